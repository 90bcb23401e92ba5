-- 0003: the memory life cycle — decay, near-duplicate merging and contradictions (docs/lifecycle.md).
-- Functions, views, triggers and row-level security policies for these tables live in sql/130_decay.sql,
-- sql/140_dedup.sql and sql/150_contradictions.sql.

-- The decay pass walks active, unpinned memories from the oldest. created_at never changes, so recall's
-- access bookkeeping (last_accessed_at, access_count) never touches this index and stays HOT-eligible.
CREATE INDEX memories_decay_idx ON memory.memories (created_at, id) WHERE status = 'active' AND NOT pinned;

-- Work for the check worker (dedup and contradiction checks): one row per memory still to compare with
-- its neighbours. A trigger on memory.embeddings fills it when a memory gets its vector of the default
-- model. The worker leases rows (FOR UPDATE SKIP LOCKED, then claim = a token and run_after = the end of
-- the lease), judges each outside any transaction (an LLM call must not hold row locks), and applies the
-- outcome and deletes the row in one short transaction that first re-checks its claim: a crash loses
-- nothing (the lease runs out and the row is claimed again) and nothing is applied twice.
CREATE TABLE memory.check_queue (
  memory_id    uuid PRIMARY KEY,
  workspace    name NOT NULL,
  model        text NOT NULL REFERENCES memory.models (name) ON DELETE CASCADE,
  state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
  -- The lease of the worker checking it (NULL: nobody); the lease ends at run_after.
  claim        uuid,
  attempts     integer NOT NULL DEFAULT 0,
  -- Transient LLM failures so far; after Workers:Check:LlmMaxAttempts the check falls back to heuristics.
  llm_attempts integer NOT NULL DEFAULT 0,
  last_error   text,
  run_after    timestamptz NOT NULL DEFAULT now(),
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (memory_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE
);
CREATE INDEX check_queue_ready_idx ON memory.check_queue (run_after) WHERE state = 'queued';
CREATE INDEX check_queue_scope_idx ON memory.check_queue (workspace, state);

-- Contradictions, one row per pair of memories found (or declared) to conflict. The contradicts edge in
-- memory.associations is the graph fact; this row is the decision: how it was found (method, verdict,
-- confidence, reason), whether it is settled (state) and how (resolution, by whom, when, note).
CREATE TABLE memory.contradiction_cases (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace    name NOT NULL DEFAULT memory.current_workspace(),
  newer_id     uuid NOT NULL,
  older_id     uuid NOT NULL,
  entity       text,
  verdict      text NOT NULL CHECK (verdict IN ('contradicts', 'updates')),
  method       text NOT NULL CHECK (method IN ('llm', 'heuristic', 'manual')),
  confidence   real NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
  similarity   real,
  reason       text,
  state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
  resolution   text CHECK (resolution IN ('newer', 'older', 'both')),
  resolved_by  name,
  resolved_at  timestamptz,
  note         text,
  detail       jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (newer_id <> older_id),
  CHECK ((state = 'open') = (resolution IS NULL)),
  FOREIGN KEY (newer_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE,
  FOREIGN KEY (older_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE
);
-- One case per pair, whichever way round it was found: a check that runs again finds the case it made.
CREATE UNIQUE INDEX contradiction_cases_pair_idx ON memory.contradiction_cases (least(newer_id, older_id), greatest(newer_id, older_id));
CREATE INDEX contradiction_cases_open_idx ON memory.contradiction_cases (workspace, created_at DESC) WHERE state = 'open';
CREATE INDEX contradiction_cases_older_idx ON memory.contradiction_cases (older_id);

-- New policy settings (kept where an administrator already set them).
UPDATE memory.policies
   SET settings = '{
     "decay.access_boost": 0.2,
     "contradictions.auto_resolve": true,
     "contradictions.min_confidence": 0.75,
     "contradiction_threshold:builtin-v1": 0.5
   }'::jsonb || settings,
       updated_at = now()
 WHERE workspace = '*';
