-- 0002: worker health, LLM token accounting, extraction results and the reflection worker's bookkeeping.
-- Functions, views, grants and row-level security for these tables live in sql/1xx_*.sql.

-- Health of every worker of every MemorySql process, upserted periodically by each process (one row per
-- worker, target and instance). memory.worker_status and memory.stats read it; `memorysql status` prints it.
CREATE TABLE memory.worker_health (
  worker              text NOT NULL CHECK (length(worker) BETWEEN 1 AND 64),
  target              text NOT NULL DEFAULT '',          -- what the worker works for, e.g. the embedding model
  instance            text NOT NULL CHECK (length(instance) BETWEEN 1 AND 200),
  running             boolean NOT NULL,
  started_at          timestamptz,
  heartbeat_at        timestamptz NOT NULL DEFAULT now(),
  heartbeat_interval  interval NOT NULL,                 -- the writer's period: a row older than 3 of them is lost
  last_success_at     timestamptz,
  last_error_at       timestamptz,
  last_error          text,
  consecutive_errors  integer NOT NULL DEFAULT 0,
  processed           bigint NOT NULL DEFAULT 0,
  retried             bigint NOT NULL DEFAULT 0,
  failed              bigint NOT NULL DEFAULT 0,
  queue_depth         bigint,
  failed_depth        bigint,
  queue_checked_at    timestamptz,
  counters            jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (worker, target, instance)
);

-- Every LLM call, per workspace: what for, which model, the tokens the endpoint reported (all attempts of
-- the call together) and whether it gave a usable answer. Written by MemorySql as the admin; workspaces read
-- their own rows. Budgets (policy llm.budget_tokens_per_day) are checked against it.
CREATE TABLE memory.llm_usage (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace          name NOT NULL DEFAULT memory.current_workspace(),
  at                 timestamptz NOT NULL DEFAULT now(),
  purpose            text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 64),
  model              text NOT NULL,
  prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  ok                 boolean NOT NULL,
  error              text,
  detail             jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX llm_usage_scope_idx ON memory.llm_usage (workspace, at);

-- What extraction made of a resource: when, how (llm or heuristic, and why not llm), how many items.
ALTER TABLE memory.resources ADD COLUMN extracted_at timestamptz, ADD COLUMN extraction jsonb;

-- Reflection: groups of item memories (per workspace, entity and topic) that changed since their summary was
-- written. Insert-only marks, written by a trigger on memory.memories; the reflection worker claims the marks
-- of one group FOR UPDATE SKIP LOCKED, re-summarises the group and deletes the marks it claimed (marks added
-- meanwhile stay and bring the group back).
CREATE TABLE memory.reflection_queue (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace  name NOT NULL,
  entity     text NOT NULL DEFAULT '',
  topic      text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reflection_queue_group_idx ON memory.reflection_queue (workspace, entity, topic);

-- One row per group the reflection worker has looked at: its current summary, the members it summarised
-- (fingerprint), and failures with the same life cycle as the other queues (attempts, last_error, run_after,
-- 'failed' after the last attempt).
CREATE TABLE memory.reflection_groups (
  workspace      name NOT NULL,
  entity         text NOT NULL DEFAULT '',
  topic          text NOT NULL,
  summary_id     uuid REFERENCES memory.memories (id) ON DELETE SET NULL,
  fingerprint    bytea,
  members        integer NOT NULL DEFAULT 0,
  mode           text,
  state          text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'retry', 'failed')),
  attempts       integer NOT NULL DEFAULT 0,
  last_error     text,
  run_after      timestamptz NOT NULL DEFAULT now(),
  summarized_at  timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace, entity, topic)
);
CREATE INDEX reflection_groups_summary_idx ON memory.reflection_groups (summary_id) WHERE summary_id IS NOT NULL;

-- Defaults of the new policy settings (see docs/sql.md, Policies); values already set win. There is no
-- llm.budget_tokens_per_day: no budget unless a workspace (or '*') sets one.
UPDATE memory.policies SET settings = '{
  "llm.enabled": true,
  "reflection.enabled": true,
  "reflection.min_members": 3,
  "reflection.max_sources": 50
}'::jsonb || settings WHERE workspace = '*';
