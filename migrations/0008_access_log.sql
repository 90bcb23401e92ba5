-- 0008: recall's access statistics leave the read path. recall used to add 1 to access_count and set
-- last_accessed_at of every memory it returned, in the caller's transaction: every recall was a write to
-- memory.memories and its commit waited for a WAL flush (~1 ms of a 6 ms recall at 100,000 memories). Now
-- recall appends (workspace, memory, time) here and the access worker folds the hits into memory.memories
-- every few seconds (memory.fold_access). The table is UNLOGGED: a transaction that wrote only unlogged
-- tables does not wait for a WAL flush at commit, and a crash loses at most the hits not folded yet (the
-- table is emptied by crash recovery). No foreign key: checking it would lock the memory row, a logged write.
CREATE UNLOGGED TABLE IF NOT EXISTS memory.access_log (
  workspace   name        NOT NULL,
  memory_id   uuid        NOT NULL,
  accessed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE memory.access_log IS
  'Recall hits not yet folded into memory.memories (access_count, last_accessed_at) by memory.fold_access (the access worker, every few seconds). UNLOGGED: a crash loses the hits not folded yet.';
