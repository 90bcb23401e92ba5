-- The lexical index and Okapi BM25, computed in SQL so a client connected to PostgreSQL directly gets it.
--
--   bm25(D, Q) = Σ_{t ∈ Q} idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))
--   idf(t)     = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
--
-- Terms are the lexemes of to_tsvector(<workspace text_search_config>, content) (stemmed, stop words
-- removed); tf is a lexeme's number of positions (PostgreSQL keeps at most 256 per lexeme), |D| the sum
-- of tf over the document, N the number of active memories of the workspace, df(t) the number of active
-- memories containing t, avgdl their mean length. Each distinct query lexeme counts once. k1 and b come
-- from the policy settings bm25.k1 (1.2) and bm25.b (0.75).

-- BEFORE INSERT / UPDATE OF content: content hash and lexical vector, so plain INSERTs work too.
CREATE OR REPLACE FUNCTION memory.memories_prepare() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.content_hash := memory.content_hash(NEW.content);
  IF TG_OP = 'INSERT' OR NEW.content IS DISTINCT FROM OLD.content THEN
    NEW.lexical := to_tsvector(memory.text_search_config(NEW.workspace), NEW.content);
    NEW.lexical_length := coalesce((SELECT sum(coalesce(array_length(l.positions, 1), 1)) FROM unnest(NEW.lexical) l), 0);
    IF TG_OP = 'UPDATE' THEN NEW.updated_at := now(); END IF;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION memory.memories_prepare() IS
  'Trigger: computes content_hash, the lexical tsvector and its length whenever a memory''s content is written.';

-- Term frequencies of a lexical vector.
CREATE OR REPLACE FUNCTION memory.lexical_terms_of(lexical tsvector)
RETURNS TABLE (term text, tf integer)
LANGUAGE sql IMMUTABLE AS $$
  SELECT l.lexeme, coalesce(array_length(l.positions, 1), 1) FROM unnest(lexical) l
$$;
COMMENT ON FUNCTION memory.lexical_terms_of(tsvector) IS 'The (term, term frequency) pairs of a tsvector.';

-- Applies the statistics changes the current transaction queued in lexical_pending: one upsert per counter
-- row, workspace stats rows first, then term rows, each in sorted order, so concurrent committers never
-- wait on each other in a cycle. Runs from the deferred trigger on lexical_flush, i.e. at commit.
CREATE OR REPLACE FUNCTION memory.lexical_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  tx bigint := txid_current();
  v_shard smallint := (pg_backend_pid() % 16)::smallint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM memory.lexical_flush f WHERE f.id = NEW.id) THEN
    RETURN NULL;  -- an earlier marker of this transaction already flushed
  END IF;
  INSERT INTO memory.lexical_stats AS s (workspace, shard, docs, total_length)
  SELECT p.workspace, v_shard, sum(p.docs), sum(p.length) FROM memory.lexical_pending p
   WHERE p.txid = tx AND p.term IS NULL GROUP BY p.workspace ORDER BY p.workspace
  ON CONFLICT (workspace, shard) DO UPDATE SET docs = s.docs + excluded.docs, total_length = s.total_length + excluded.total_length;
  INSERT INTO memory.lexical_terms AS t (workspace, term, shard, df)
  SELECT p.workspace, p.term, v_shard, sum(p.df) FROM memory.lexical_pending p
   WHERE p.txid = tx AND p.term IS NOT NULL GROUP BY p.workspace, p.term HAVING sum(p.df) <> 0
   ORDER BY p.workspace, p.term
  ON CONFLICT (workspace, term, shard) DO UPDATE SET df = t.df + excluded.df;
  DELETE FROM memory.lexical_pending p WHERE p.txid = tx;
  -- Writes after this point (possible under SET CONSTRAINTS ALL IMMEDIATE) schedule a new flush.
  DELETE FROM memory.lexical_flush f WHERE f.txid = tx;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.lexical_flush() IS
  'Deferred trigger (at commit): applies the transaction''s queued BM25 statistics changes to lexical_stats and lexical_terms, one upsert per counter row, in a fixed lock order.';
REVOKE ALL ON FUNCTION memory.lexical_flush() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER lexical_flush AFTER INSERT ON memory.lexical_flush
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION memory.lexical_flush();

-- Queues one document's statistics change (old contribution out, new one in) for this transaction's flush.
CREATE OR REPLACE FUNCTION memory.lexical_count(ws name, old_lexical tsvector, old_length integer,
                                                new_lexical tsvector, new_length integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  tx bigint := txid_current();
BEGIN
  INSERT INTO memory.lexical_pending (txid, workspace, term, docs, length)
  VALUES (tx, ws, NULL, (new_lexical IS NOT NULL)::int - (old_lexical IS NOT NULL)::int,
          coalesce(new_length, 0) - coalesce(old_length, 0));
  INSERT INTO memory.lexical_pending (txid, workspace, term, df)
  SELECT tx, ws, l.lexeme, 1 FROM unnest(new_lexical) l
  UNION ALL
  SELECT tx, ws, l.lexeme, -1 FROM unnest(old_lexical) l;
  IF NOT EXISTS (SELECT 1 FROM memory.lexical_flush f WHERE f.txid = tx) THEN
    INSERT INTO memory.lexical_flush (txid) VALUES (tx);
  END IF;
END
$$;
COMMENT ON FUNCTION memory.lexical_count(name, tsvector, integer, tsvector, integer) IS
  'Internal (trigger helper): queues one document''s change to the BM25 statistics (document count, total length, document frequencies) for the transaction''s commit-time flush.';
REVOKE ALL ON FUNCTION memory.lexical_count(name, tsvector, integer, tsvector, integer) FROM PUBLIC;

-- Postings, kept immediately (a recall later in the same transaction finds the memory): they exist for
-- every memory that is not deleted. Runs as the schema owner: workspaces may read the index, not write it.
CREATE OR REPLACE FUNCTION memory.memories_postings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old_posted boolean := TG_OP <> 'INSERT' AND OLD.status <> 'deleted';
  new_posted boolean := TG_OP <> 'DELETE' AND NEW.status <> 'deleted';
  changed boolean := TG_OP = 'UPDATE' AND OLD.lexical IS DISTINCT FROM NEW.lexical;
  k1 float8;
  b float8;
  avgdl float8;
  settings jsonb;
BEGIN
  IF old_posted AND (NOT new_posted OR changed) THEN
    -- Through the primary key (workspace, term, memory_id): one probe per term of the old text.
    DELETE FROM memory.lexical_postings p
     WHERE p.workspace = OLD.workspace AND p.term = ANY (tsvector_to_array(OLD.lexical)) AND p.memory_id = OLD.id;
  END IF;
  IF new_posted AND (NOT old_posted OR changed) THEN
    settings := (memory.policy(NEW.workspace)).settings;
    k1 := memory.policy_number(settings, 'bm25.k1', 1.2);
    b := memory.policy_number(settings, 'bm25.b', 0.75);
    SELECT sum(s.total_length)::float8 / nullif(sum(s.docs), 0) INTO avgdl
      FROM memory.lexical_stats s WHERE s.workspace = NEW.workspace;
    avgdl := coalesce(nullif(avgdl, 0), greatest(NEW.lexical_length, 1));
    INSERT INTO memory.lexical_postings (workspace, term, memory_id, tf, impact)
    SELECT NEW.workspace, t.term, NEW.id, t.tf,
           t.tf * (k1 + 1) / (t.tf + k1 * (1 - b + b * NEW.lexical_length / avgdl))
      FROM memory.lexical_terms_of(NEW.lexical) t;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.memories_postings() IS
  'Trigger: keeps the BM25 postings (one row per term of every memory not deleted) in step with memory.memories.';
REVOKE ALL ON FUNCTION memory.memories_postings() FROM PUBLIC;

-- Statistics (active memories only): each change is queued at once and applied at commit by the flush
-- above, so a transaction takes counter locks only when it commits, after every other wait it may have
-- (for instance on a concurrent duplicate's dedup slot): counter locks can never be part of a deadlock.
CREATE OR REPLACE FUNCTION memory.memories_statistics() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old_active boolean := TG_OP <> 'INSERT' AND OLD.status = 'active';
  new_active boolean := TG_OP <> 'DELETE' AND NEW.status = 'active';
  changed boolean := TG_OP = 'UPDATE' AND OLD.lexical IS DISTINCT FROM NEW.lexical;
BEGIN
  IF old_active <> new_active OR (old_active AND changed) THEN
    PERFORM memory.lexical_count(
      CASE WHEN TG_OP = 'DELETE' THEN OLD.workspace ELSE NEW.workspace END,
      CASE WHEN old_active THEN OLD.lexical END, CASE WHEN old_active THEN OLD.lexical_length END,
      CASE WHEN new_active THEN NEW.lexical END, CASE WHEN new_active THEN NEW.lexical_length END);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION memory.memories_statistics() IS
  'Trigger: queues the change of a memory''s contribution to the BM25 statistics (active memories) for the commit-time flush.';
REVOKE ALL ON FUNCTION memory.memories_statistics() FROM PUBLIC;

CREATE TRIGGER memories_prepare BEFORE INSERT OR UPDATE OF content ON memory.memories
  FOR EACH ROW EXECUTE FUNCTION memory.memories_prepare();
CREATE TRIGGER memories_postings_insert AFTER INSERT ON memory.memories
  FOR EACH ROW EXECUTE FUNCTION memory.memories_postings();
CREATE TRIGGER memories_postings_update AFTER UPDATE OF content, status ON memory.memories
  FOR EACH ROW WHEN (OLD.lexical IS DISTINCT FROM NEW.lexical OR OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION memory.memories_postings();
CREATE TRIGGER memories_postings_delete AFTER DELETE ON memory.memories
  FOR EACH ROW EXECUTE FUNCTION memory.memories_postings();
CREATE TRIGGER memories_statistics_insert AFTER INSERT ON memory.memories
  FOR EACH ROW WHEN (NEW.status = 'active') EXECUTE FUNCTION memory.memories_statistics();
CREATE TRIGGER memories_statistics_update AFTER UPDATE OF content, status ON memory.memories
  FOR EACH ROW WHEN ((OLD.status = 'active' OR NEW.status = 'active')
                     AND (OLD.lexical IS DISTINCT FROM NEW.lexical OR OLD.status IS DISTINCT FROM NEW.status))
  EXECUTE FUNCTION memory.memories_statistics();
CREATE TRIGGER memories_statistics_delete AFTER DELETE ON memory.memories
  FOR EACH ROW WHEN (OLD.status = 'active') EXECUTE FUNCTION memory.memories_statistics();

-- The distinct lexemes of a query text in a workspace's configuration.
CREATE OR REPLACE FUNCTION memory.query_terms(query text, workspace name DEFAULT NULL) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(l.lexeme ORDER BY l.lexeme), '{}')
    FROM unnest(to_tsvector(memory.text_search_config(query_terms.workspace), coalesce(query, ''))) l
$$;
COMMENT ON FUNCTION memory.query_terms(text, name) IS
  'The distinct terms (lexemes) BM25 uses for a query text: to_tsvector with the workspace''s text_search_config.';

-- BM25 building blocks: once per query the idf of each query term from the workspace statistics
-- (memory.bm25_idf; recall computes the same in its own statement, which also leaves out the words that name
-- an entity), then each candidate's score from its own lexical vector (memory.bm25_doc): tf and |D| are on the
-- memory row, so scoring a candidate costs no extra index probe.
CREATE OR REPLACE FUNCTION memory.bm25_idf(ws name, terms text[], OUT n float8, OUT avgdl float8, OUT idfs float8[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT coalesce(sum(s.docs), 0), coalesce(sum(s.total_length)::float8 / nullif(sum(s.docs), 0), 1)
    INTO n, avgdl FROM memory.lexical_stats s WHERE s.workspace = ws;
  -- COLLATE "default": the name argument makes this function's input collation "C", which would otherwise
  -- rule out the index on the text column term.
  SELECT array_agg(ln(1 + (n - x.df + 0.5) / (x.df + 0.5)) ORDER BY x.i) INTO idfs
    FROM (SELECT q.i, coalesce((SELECT greatest(sum(t.df), 0) FROM memory.lexical_terms t
                                 WHERE t.workspace = ws AND t.term = q.term COLLATE "default"), 0)::float8 AS df
            FROM unnest(terms) WITH ORDINALITY q(term, i)) x;
  idfs := coalesce(idfs, '{}');
END
$$;
COMMENT ON FUNCTION memory.bm25_idf(name, text[]) IS
  'BM25 collection statistics of a workspace for some query terms: N (active memories), avgdl (their mean length) and idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)) for each term, in order.';

-- Lexemes as one tsquery matching a text that contains any of them ('a' | 'b' | ...), each quoted so it is
-- taken as it is (no parsing, no stemming again); NULL for none. Recall tests a candidate with it (@@, a
-- binary search per lexeme) before computing its BM25 by unnesting all of its lexemes. PL/pgSQL so its plan
-- is kept for the session (a SQL function with FROM is planned again on every call).
CREATE OR REPLACE FUNCTION memory.lexeme_query(lexemes text[]) RETURNS tsquery
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- In a quoted tsquery lexeme a backslash escapes the next character and a quote is doubled. The backslashes
  -- are written as E'' strings: the body is compiled under the caller's standard_conforming_strings, and with
  -- it off a quoted lone backslash would escape its closing quote.
  RETURN (SELECT string_agg('''' || replace(replace(l, E'\\', E'\\\\'), '''', '''''') || '''', ' | ')
            FROM unnest(lexemes) l WHERE length(l) > 0)::tsquery;
END
$$;
COMMENT ON FUNCTION memory.lexeme_query(text[]) IS
  'Internal: lexemes as one tsquery that matches a tsvector containing any of them (each quoted, taken as is); NULL when there are none.';

-- The formula, written once: recall and memory.bm25 score with it. A set (of one row) so that, called in FROM
-- (LATERAL), PostgreSQL inlines it into the calling statement: no call and no plan of its own per statement.
-- A scalar SQL function cannot be inlined with a subquery in it; called, it cost recall a plan per call site.
-- The document's lexemes are looked up in the terms (array_position; the terms are distinct), not joined with
-- them: a join of two unnests costs a hash table per document.
CREATE OR REPLACE FUNCTION memory.bm25_doc(lexical tsvector, length integer, terms text[], idfs float8[],
                                           k1 float8, b float8, avgdl float8)
RETURNS TABLE (bm25 real)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce((SELECT sum(idfs[t.i] * t.tf * (k1 + 1) / (t.tf + k1 * (1 - b + b * length / avgdl)))
                     FROM (SELECT array_position(terms, l.lexeme) AS i, coalesce(array_length(l.positions, 1), 1) AS tf
                             FROM unnest(lexical) l) t
                    WHERE t.i IS NOT NULL), 0)::real
$$;
COMMENT ON FUNCTION memory.bm25_doc(tsvector, integer, text[], float8[], float8, float8, float8) IS
  'Okapi BM25 of one document (its lexical vector and length) for distinct query terms with their idf, as one row: Σ idf · tf · (k1 + 1) / (tf + k1 · (1 − b + b · |D| / avgdl)). Call it in FROM (LATERAL), where it is inlined.';

-- BM25 of the given memories for a query text: exact, over the current workspace's active-memory statistics.
CREATE OR REPLACE FUNCTION memory.bm25(query text, ids uuid[])
RETURNS TABLE (memory_id uuid, bm25 real)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  ws name := memory.require_workspace();
  cfg record;
  terms text[] := memory.query_terms(query, ws);
  st record;
BEGIN
  SELECT * INTO cfg FROM memory.recall_settings(ws);
  SELECT * INTO st FROM memory.bm25_idf(ws, terms);
  RETURN QUERY
  SELECT x.id, x.score FROM (
    SELECT m.id, d.bm25 AS score
      FROM memory.memories m
      CROSS JOIN LATERAL memory.bm25_doc(m.lexical, m.lexical_length, terms, st.idfs, cfg.bm25_k1, cfg.bm25_b, st.avgdl) d
     WHERE m.id = ANY (ids) AND m.status <> 'deleted') x
   WHERE x.score > 0;
END
$$;
COMMENT ON FUNCTION memory.bm25(text, uuid[]) IS
  'Okapi BM25 (k1, b from the policy) of each listed memory for a query text, over the current workspace''s active-memory statistics. Forgotten memories and memories without a matching term are not returned.';

-- Rebuilds the lexical index of a workspace (admin): after changing its text_search_config or bm25 policy.
CREATE OR REPLACE FUNCTION memory.rebuild_lexical(workspace name) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  DELETE FROM memory.lexical_postings p WHERE p.workspace = rebuild_lexical.workspace;
  DELETE FROM memory.lexical_terms t WHERE t.workspace = rebuild_lexical.workspace;
  DELETE FROM memory.lexical_stats s WHERE s.workspace = rebuild_lexical.workspace;
  -- Re-tokenise. Neither trigger fires: they watch content and status, not these columns.
  UPDATE memory.memories m SET lexical = v.lexical,
         lexical_length = coalesce((SELECT sum(coalesce(array_length(l.positions, 1), 1)) FROM unnest(v.lexical) l), 0)
    FROM (SELECT x.id, to_tsvector(memory.text_search_config(rebuild_lexical.workspace), x.content) AS lexical
            FROM memory.memories x WHERE x.workspace = rebuild_lexical.workspace) v
   WHERE m.id = v.id;
  INSERT INTO memory.lexical_stats (workspace, shard, docs, total_length)
  SELECT m.workspace, 0, count(*), coalesce(sum(m.lexical_length), 0) FROM memory.memories m
   WHERE m.workspace = rebuild_lexical.workspace AND m.status = 'active' GROUP BY m.workspace;
  INSERT INTO memory.lexical_terms (workspace, term, shard, df)
  SELECT m.workspace, l.lexeme, 0, count(*) FROM memory.memories m, unnest(m.lexical) l
   WHERE m.workspace = rebuild_lexical.workspace AND m.status = 'active' GROUP BY m.workspace, l.lexeme;
  WITH st AS (SELECT sum(total_length)::float8 / nullif(sum(docs), 0) AS avgdl FROM memory.lexical_stats s WHERE s.workspace = rebuild_lexical.workspace),
       pol AS (SELECT memory.policy_number(settings, 'bm25.k1', 1.2) AS k1, memory.policy_number(settings, 'bm25.b', 0.75) AS b
                 FROM memory.policy(rebuild_lexical.workspace))
  INSERT INTO memory.lexical_postings (workspace, term, memory_id, tf, impact)
  SELECT m.workspace, t.term, m.id, t.tf,
         t.tf * (pol.k1 + 1) / (t.tf + pol.k1 * (1 - pol.b + pol.b * m.lexical_length / coalesce(st.avgdl, greatest(m.lexical_length, 1))))
    FROM memory.memories m CROSS JOIN st CROSS JOIN pol, memory.lexical_terms_of(m.lexical) t
   WHERE m.workspace = rebuild_lexical.workspace AND m.status <> 'deleted';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION memory.rebuild_lexical(name) IS
  'Admin: rebuilds the BM25 index (postings and statistics) of one workspace, e.g. after changing its text_search_config. Returns the number of postings.';
