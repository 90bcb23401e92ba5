-- 0004: recall quality. A memory's neighbours in its session (the memories just before and after it in time)
-- give recall its context signal: a turn of a conversation is often understood only with the turn before it.
-- recall finds them through this index, one probe per neighbour.
CREATE INDEX IF NOT EXISTS memories_session_time_idx ON memory.memories (session_id, valid_from)
  WHERE session_id IS NOT NULL;

-- Default weights of the new signals (a workspace's policy row can override them).
UPDATE memory.policies
   SET settings = '{"recall.weight.entity": 0.1, "recall.weight.context": 0.4}'::jsonb || settings
 WHERE workspace = '*';
