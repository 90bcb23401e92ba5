#!/usr/bin/env bash
# Regenerates the builtin embedding model's WordNet concept table
# (src/MemorySql.Embeddings/Builtin/Resources/wordnet-concepts.bin) from WordNet 3.0's database files.
# Only needed when the generator changes: the table is committed, and builds never need WordNet.
# A changed table changes builtin-v2's vectors: publish it as a new builtin model version instead
# (see BuiltinModels in src/MemorySql.Embeddings/Builtin/BuiltinFeatureSpec.cs).
set -euo pipefail
cd "$(dirname "$0")/.."
dict="${WORDNET_DICT:-/usr/share/wordnet}"
if [ ! -f "$dict/data.noun" ]; then
  echo "WordNet's database is not in $dict; install Debian's wordnet-base (apt-get install wordnet-base) or set WORDNET_DICT" >&2
  exit 1
fi
dotnet run -c Release --project tools/MemorySql.WordNetResource -- "$dict" src/MemorySql.Embeddings/Builtin/Resources/wordnet-concepts.bin
sha256sum src/MemorySql.Embeddings/Builtin/Resources/wordnet-concepts.bin
