-- 0004: recall quality. A memory's neighbours in its session (the memories just before and after it in time)
-- give recall its context signal: a turn of a conversation is often understood only with the turn before it.
-- recall finds them through this index, one probe per neighbour.
CREATE INDEX IF NOT EXISTS memories_session_time_idx ON memory.memories (session_id, valid_from)
  WHERE session_id IS NOT NULL;

-- Default weights of the new signals (a workspace's policy row can override them), and vector relevance
-- weighed like lexical relevance (0.25 each) instead of 0.6, unless the default was changed: measured on
-- LoCoMo with the builtin model (docs/benchmarks.md); with a strong embedding model, raise it per workspace.
UPDATE memory.policies
   SET settings = '{"recall.weight.entity": 0.1, "recall.weight.context": 0.4}'::jsonb || settings
 WHERE workspace = '*';
UPDATE memory.policies
   SET settings = settings || '{"recall.weight.vector": 0.25}'::jsonb
 WHERE workspace = '*' AND settings -> 'recall.weight.vector' = '0.6'::jsonb;

-- Candidate generation reads the postings of highest impact per query term: with memory_id in the index
-- it is an index-only scan (no heap page per posting).
CREATE INDEX IF NOT EXISTS lexical_postings_top_idx ON memory.lexical_postings (workspace, term, impact DESC) INCLUDE (memory_id);
DROP INDEX IF EXISTS memory.lexical_postings_impact_idx;

-- recall updates access_count and last_accessed_at of what it returns. Neither column is indexed, so with
-- free room on the page the update is HOT (no index entry for any of the table's indexes); without it, each
-- returned memory costs an insertion into every index. New pages keep 20 % free for that.
ALTER TABLE memory.memories SET (fillfactor = 80);

-- recall asks whether a query word names an entity of the workspace (case-insensitively).
CREATE INDEX IF NOT EXISTS memories_entity_name_idx ON memory.memories (workspace, lower(entity)) WHERE entity IS NOT NULL;
