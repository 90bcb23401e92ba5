-- 0010: the row type recall returns. recall was a LANGUAGE sql wrapper over memory.recall_core (PL/pgSQL,
-- RETURNS TABLE): PL/pgSQL cannot name an input argument and an output column alike (entity, tags), and a
-- RETURNS TABLE function has its output columns as variables. A set of a named row type has no output
-- variables, so recall itself is PL/pgSQL now: no SQL function parsed and planned on every call, no second
-- copy of the rows, and each row returned whole instead of column by column (docs/benchmarks.md).
-- The columns are recall's documented result (docs/sql.md), in the same order as before.
CREATE TYPE memory.recall_result AS (
  id uuid, content text, type text, kind text, layer text, entity text, tags text[], metadata jsonb,
  status text, created_at timestamptz, valid_from timestamptz, valid_to timestamptz,
  score real, similarity real, lexical real, bm25 real, importance real, recency real, signals text[],
  context real, entity_match real);
COMMENT ON TYPE memory.recall_result IS
  'A row of recall(): the memory (id, content, type, kind, layer, entity, tags, metadata, status, created_at, valid_from, valid_to), its fused score and every component (similarity, lexical, bm25, importance, recency, context, entity_match), and signals (which were used, and why one was missing).';
