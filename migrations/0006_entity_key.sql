-- 0006: recall looks up whether a query word names an entity of the workspace (the entity signal). With
-- lower(entity) in the query, row-level security keeps the index out (lower() is not leakproof, so it may
-- not run before the policy's check) and the lookup read every memory of the workspace: ~25 ms at 100,000
-- memories, most of a recall. A stored, lower-cased copy compared with plain equality (leakproof) is an
-- index probe per query word.
ALTER TABLE memory.memories ADD COLUMN IF NOT EXISTS entity_key text GENERATED ALWAYS AS (lower(entity)) STORED;
CREATE INDEX IF NOT EXISTS memories_entity_key_idx ON memory.memories (workspace, entity_key) WHERE entity_key IS NOT NULL;
COMMENT ON COLUMN memory.memories.entity_key IS 'lower(entity), maintained by PostgreSQL: recall''s entity lookup (memories_entity_key_idx).';
