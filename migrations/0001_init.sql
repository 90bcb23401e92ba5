-- 0001: the memory schema's tables, types and indexes.
-- Functions, views, grants and row-level security policies live in sql/ and are re-applied idempotently;
-- the few functions that column defaults need are created here and may be replaced there.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS memory;

-- Time-ordered UUIDs (version 7): the first 48 bits are Unix milliseconds, so ids sort by creation.
CREATE OR REPLACE FUNCTION memory.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- A workspace is a PostgreSQL role. Registered workspaces are listed here; a login role that is a member
-- of exactly one registered workspace role works in that workspace.
CREATE TABLE memory.workspaces (
  name        name PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  name NOT NULL DEFAULT current_user
);

-- The workspace of the current role: itself when registered, else the one registered workspace it belongs
-- to. A superuser (the admin, the workers) is never taken for a member of every workspace. Replaced with the
-- same behaviour by sql/010_util.sql; defined here because column defaults use it.
CREATE OR REPLACE FUNCTION memory.current_workspace() RETURNS name
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT w.name FROM memory.workspaces w WHERE w.name = current_user),
    (SELECT min(w.name) FROM memory.workspaces w
      WHERE NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
        AND pg_catalog.pg_has_role(current_user, w.name, 'MEMBER')),
    current_user)
$$;

-- Raw material: conversations (messages as jsonb), documents, events. Extraction turns them into items.
CREATE TABLE memory.resources (
  id            uuid PRIMARY KEY DEFAULT memory.uuid_v7(),
  workspace     name NOT NULL DEFAULT memory.current_workspace(),
  entity        text,
  process       text,
  session_id    uuid,
  kind          text NOT NULL DEFAULT 'conversation',
  content       jsonb NOT NULL,
  content_hash  bytea NOT NULL,
  metadata      jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace, content_hash),
  UNIQUE (id, workspace)
);
CREATE INDEX resources_entity_idx ON memory.resources (workspace, entity) WHERE entity IS NOT NULL;

CREATE TABLE memory.memories (
  id                uuid PRIMARY KEY DEFAULT memory.uuid_v7(),
  workspace         name NOT NULL DEFAULT memory.current_workspace(),
  entity            text,
  process           text,
  session_id        uuid,
  layer             text NOT NULL DEFAULT 'item' CHECK (layer IN ('resource', 'item', 'category')),
  type              text NOT NULL DEFAULT 'semantic' CHECK (type IN ('episodic', 'semantic', 'procedural', 'working')),
  kind              text NOT NULL DEFAULT 'fact' CHECK (length(kind) BETWEEN 1 AND 64),
  content           text NOT NULL CHECK (length(btrim(content)) > 0),
  content_hash      bytea NOT NULL,
  tags              text[] NOT NULL DEFAULT '{}',
  metadata          jsonb NOT NULL DEFAULT '{}',
  -- NaN fails this check too: PostgreSQL orders NaN above every number.
  importance        real NOT NULL DEFAULT 0.5 CHECK (importance >= 0 AND importance <= 1),
  pinned            boolean NOT NULL DEFAULT false,
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived', 'superseded', 'deleted')),
  superseded_by     uuid REFERENCES memory.memories (id) ON DELETE SET NULL,
  valid_from        timestamptz NOT NULL DEFAULT now(),
  valid_to          timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  last_accessed_at  timestamptz,
  access_count      integer NOT NULL DEFAULT 0,
  expires_at        timestamptz,
  source_id         uuid REFERENCES memory.resources (id) ON DELETE SET NULL,
  -- The lexical index: the text-search vector of content (regconfig from the workspace's policy) and its
  -- length in tokens, both maintained by a BEFORE trigger; BM25 postings are kept in memory.lexical_*.
  lexical           tsvector NOT NULL DEFAULT ''::tsvector,
  lexical_length    integer NOT NULL DEFAULT 0,
  CHECK (valid_to IS NULL OR valid_to >= valid_from),
  -- Child tables reference (id, workspace), so a row can never point at another workspace's memory.
  UNIQUE (id, workspace)
);
-- Exact duplicates: one active memory per (workspace, entity, content hash). remember() inserts with
-- ON CONFLICT on this index, which makes dedup race-free under concurrent writers.
CREATE UNIQUE INDEX memories_dedup_idx ON memory.memories (workspace, (coalesce(entity, '')), content_hash)
  WHERE status = 'active';
CREATE INDEX memories_superseded_by_idx ON memory.memories (superseded_by) WHERE superseded_by IS NOT NULL;
CREATE INDEX memories_pinned_idx ON memory.memories (workspace) WHERE pinned AND status = 'active';
CREATE INDEX memories_layer_idx ON memory.memories (workspace, created_at DESC) WHERE layer = 'category' OR kind = 'summary';
CREATE INDEX memories_importance_idx ON memory.memories (workspace, importance DESC) WHERE status = 'active';
CREATE INDEX memories_scope_idx ON memory.memories (workspace, entity, status);
CREATE INDEX memories_hash_idx ON memory.memories (workspace, content_hash);
CREATE INDEX memories_created_idx ON memory.memories (workspace, created_at DESC);
CREATE INDEX memories_session_idx ON memory.memories (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX memories_tags_idx ON memory.memories USING gin (tags);
CREATE INDEX memories_source_idx ON memory.memories (source_id) WHERE source_id IS NOT NULL;

-- Embedding models. Several may coexist; each gets its own partial HNSW index over embeddings of its
-- dimension (created by memory.register_model), and recall uses the default model's index.
CREATE TABLE memory.models (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._:/-]{1,100}$'),
  dimension   integer NOT NULL CHECK (dimension BETWEEN 1 AND 2000),
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX models_one_default ON memory.models (is_default) WHERE is_default;

CREATE TABLE memory.embeddings (
  memory_id   uuid NOT NULL,
  model       text NOT NULL REFERENCES memory.models (name) ON DELETE CASCADE,
  workspace   name NOT NULL,
  embedding   vector NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (memory_id, model),
  FOREIGN KEY (memory_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE
);

-- Work for the embed worker: one row per (memory, model) still to embed. Claimed with FOR UPDATE SKIP
-- LOCKED inside the transaction that writes the embedding and deletes the row, so a crash loses nothing.
CREATE TABLE memory.embedding_queue (
  memory_id    uuid NOT NULL,
  model        text NOT NULL REFERENCES memory.models (name) ON DELETE CASCADE,
  workspace    name NOT NULL,
  state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text,
  run_after    timestamptz NOT NULL DEFAULT now(),
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (memory_id, model),
  FOREIGN KEY (memory_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE
);
CREATE INDEX embedding_queue_ready_idx ON memory.embedding_queue (model, run_after) WHERE state = 'queued';
-- recall() asks "is this model complete for this workspace?" by counting its pending rows here.
CREATE INDEX embedding_queue_scope_idx ON memory.embedding_queue (workspace, model);

-- Query texts that reached recall without a vector (a client connected to PostgreSQL directly):
-- the embed worker fills in the embedding, so the next recall of the same text can use it.
CREATE TABLE memory.query_embeddings (
  workspace     name NOT NULL DEFAULT memory.current_workspace(),
  model         text NOT NULL REFERENCES memory.models (name) ON DELETE CASCADE,
  query_hash    bytea NOT NULL,
  query         text NOT NULL,
  embedding     vector,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace, model, query_hash)
);
CREATE INDEX query_embeddings_pending_idx ON memory.query_embeddings (model, created_at) WHERE embedding IS NULL;

-- Work for the extraction worker: one row per ingested resource still to turn into item memories.
-- Same life cycle as the embed queue: claimed FOR UPDATE SKIP LOCKED, deleted when done, failed kept.
CREATE TABLE memory.extraction_queue (
  resource_id  uuid PRIMARY KEY,
  workspace    name NOT NULL,
  state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text,
  run_after    timestamptz NOT NULL DEFAULT now(),
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (resource_id, workspace) REFERENCES memory.resources (id, workspace) ON DELETE CASCADE
);
CREATE INDEX extraction_queue_ready_idx ON memory.extraction_queue (run_after) WHERE state = 'queued';
CREATE INDEX extraction_queue_scope_idx ON memory.extraction_queue (workspace);

-- Typed, weighted edges between memories.
CREATE TABLE memory.associations (
  source_id   uuid NOT NULL,
  target_id   uuid NOT NULL,
  relation    text NOT NULL CHECK (relation ~ '^[a-z][a-z_]{0,63}$'),
  workspace   name NOT NULL DEFAULT memory.current_workspace(),
  weight      real NOT NULL DEFAULT 1 CHECK (weight >= 0 AND weight <= 1),
  metadata    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, target_id, relation),
  FOREIGN KEY (source_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE,
  FOREIGN KEY (target_id, workspace) REFERENCES memory.memories (id, workspace) ON DELETE CASCADE,
  CHECK (source_id <> target_id)
);
CREATE INDEX associations_open_contradictions_idx ON memory.associations (workspace)
  WHERE relation = 'contradicts' AND NOT (metadata ? 'resolution');
CREATE INDEX associations_target_idx ON memory.associations (target_id, relation);

-- Sessions and their working memory (key -> jsonb with an optional TTL).
CREATE TABLE memory.sessions (
  id            uuid PRIMARY KEY DEFAULT memory.uuid_v7(),
  workspace     name NOT NULL DEFAULT memory.current_workspace(),
  entity        text,
  process       text,
  status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'committed', 'ended', 'expired')),
  -- Sliding time to live: every use of the session moves expires_at to now() + ttl.
  ttl           interval CHECK (ttl > interval '0'),
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  ended_at      timestamptz,
  metadata      jsonb NOT NULL DEFAULT '{}',
  UNIQUE (id, workspace)
);
CREATE INDEX sessions_scope_idx ON memory.sessions (workspace, entity, status);

CREATE TABLE memory.session_items (
  session_id    uuid NOT NULL,
  key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  workspace     name NOT NULL DEFAULT memory.current_workspace(),
  value         jsonb NOT NULL,
  expires_at    timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  -- When session_commit last promoted this item (NULL: never); a later session_set makes it due again.
  committed_at  timestamptz,
  PRIMARY KEY (session_id, key),
  FOREIGN KEY (session_id, workspace) REFERENCES memory.sessions (id, workspace) ON DELETE CASCADE
);

-- Append-only audit of every change. Never updated: workspace roles may only insert and read.
CREATE TABLE memory.events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace   name NOT NULL DEFAULT memory.current_workspace(),
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor       name NOT NULL DEFAULT session_user,
  role        name NOT NULL DEFAULT current_user,
  action      text NOT NULL,
  memory_id   uuid,
  entity      text,
  old         jsonb,
  new         jsonb,
  detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_memory_idx ON memory.events (memory_id, at) WHERE memory_id IS NOT NULL;
CREATE INDEX events_scope_idx ON memory.events (workspace, at DESC);
CREATE INDEX events_entity_idx ON memory.events (workspace, entity) WHERE entity IS NOT NULL;

-- BM25 lexical index. Postings: one row per (memory, term) for every memory that is not deleted, with the
-- term frequency and an impact (the BM25 term-frequency part at insert time) that orders candidate
-- generation. Statistics count active memories only and are sharded by backend (pg_backend_pid() % 16),
-- so concurrent writers rarely touch the same counter rows; they are applied at commit, counter rows
-- locked in a fixed order (stats rows, then term rows, sorted), which rules out deadlocks between them.
CREATE TABLE memory.lexical_postings (
  workspace  name NOT NULL,
  term       text NOT NULL,
  memory_id  uuid NOT NULL,
  tf         integer NOT NULL CHECK (tf > 0),
  impact     real NOT NULL,
  PRIMARY KEY (workspace, term, memory_id)
);
CREATE INDEX lexical_postings_impact_idx ON memory.lexical_postings (workspace, term, impact DESC);

CREATE TABLE memory.lexical_terms (
  workspace  name NOT NULL,
  term       text NOT NULL,
  shard      smallint NOT NULL,
  df         bigint NOT NULL,
  PRIMARY KEY (workspace, term, shard)
);

CREATE TABLE memory.lexical_stats (
  workspace     name NOT NULL,
  shard         smallint NOT NULL,
  docs          bigint NOT NULL,
  total_length  bigint NOT NULL,
  PRIMARY KEY (workspace, shard)
);

-- Statistics changes of the running transactions, applied in one go at commit (see sql/020_lexical.sql):
-- a transaction writing many memories updates each counter row once, not once per memory, and takes
-- counter locks only when it commits. Unlogged: rows never outlive their transaction.
CREATE UNLOGGED TABLE memory.lexical_pending (
  txid       bigint NOT NULL,
  workspace  name NOT NULL,
  term       text,              -- NULL: the document count and length row
  docs       integer NOT NULL DEFAULT 0,
  length     bigint NOT NULL DEFAULT 0,
  df         integer NOT NULL DEFAULT 0
);
CREATE INDEX lexical_pending_txid_idx ON memory.lexical_pending (txid);
-- One row per transaction with pending statistics; its deferred trigger applies them at commit.
CREATE UNLOGGED TABLE memory.lexical_flush (
  id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid  bigint NOT NULL
);
CREATE INDEX lexical_flush_txid_idx ON memory.lexical_flush (txid);

-- Policies as data: one row per workspace ('*' holds the defaults every workspace inherits).
CREATE TABLE memory.policies (
  workspace                name PRIMARY KEY,
  decay_half_life          interval NOT NULL DEFAULT '30 days',
  decay_floor              real NOT NULL DEFAULT 0.05 CHECK (decay_floor BETWEEN 0 AND 1),
  archive_threshold        real NOT NULL DEFAULT 0.1 CHECK (archive_threshold BETWEEN 0 AND 1),
  archive_min_age          interval NOT NULL DEFAULT '90 days',
  dedup_threshold          real NOT NULL DEFAULT 0.95 CHECK (dedup_threshold BETWEEN 0 AND 1),
  contradiction_threshold  real NOT NULL DEFAULT 0.80 CHECK (contradiction_threshold BETWEEN 0 AND 1),
  retention                interval,
  settings                 jsonb NOT NULL DEFAULT '{}',
  updated_at               timestamptz NOT NULL DEFAULT now()
);
-- Tunable settings live in policies.settings (flat keys; a workspace's row overrides '*' key by key).
-- See docs/sql.md "Policies" for every key.
INSERT INTO memory.policies (workspace, settings) VALUES ('*', '{
  "text_search_config": "english",
  "bm25.k1": 1.2,
  "bm25.b": 0.75,
  "recall.weight.vector": 0.6,
  "recall.weight.lexical": 0.25,
  "recall.weight.importance": 0.1,
  "recall.weight.recency": 0.05,
  "recall.recency_half_life": "14 days",
  "recall.candidates": 40,
  "recall.incomplete_model_ratio": 0.02,
  "remember.default_importance": 0.5,
  "reflect.max_chars": 4000
}');

-- Short names: append memory to the database's search_path, keeping whatever is there, and do the same
-- for the current session. Replaced (same behaviour) in sql/010_util.sql. A database created later with
-- CREATE DATABASE … TEMPLATE does not inherit database settings: call memory.ensure_search_path() there.
CREATE OR REPLACE FUNCTION memory.ensure_search_path() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  current_path text;
  new_path text;
BEGIN
  SELECT substr(c, length('search_path=') + 1) INTO current_path
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase AND d.datname = current_database(),
         unnest(s.setconfig) c
   WHERE s.setrole = 0 AND c LIKE 'search_path=%';
  current_path := coalesce(current_path, '"$user", public');
  IF NOT 'memory' = ANY (SELECT btrim(p, ' "') FROM unnest(string_to_array(current_path, ',')) p) THEN
    new_path := current_path || ', memory';
    EXECUTE format('ALTER DATABASE %I SET search_path = %s', current_database(), new_path);
  ELSE
    new_path := current_path;
  END IF;
  IF NOT 'memory' = ANY (SELECT btrim(p, ' "') FROM unnest(string_to_array(current_setting('search_path'), ',')) p) THEN
    PERFORM set_config('search_path', current_setting('search_path') || ', memory', false);
  END IF;
  RETURN new_path;
END
$$;
SELECT memory.ensure_search_path();
