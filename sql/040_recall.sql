-- Reading memories: recall (hybrid ranking) and reflect (synthesis over what recall finds).

-- A model is complete for a workspace while few of its memories still wait for an embedding: at most
-- recall.incomplete_model_ratio (2 %) of the active memories, and never fewer than 10. The normal lag of
-- fresh writes stays under that; the backfill after register_model stays above it until nearly done.
CREATE OR REPLACE FUNCTION memory.model_complete(workspace name, model text)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  active bigint := coalesce((SELECT sum(s.docs) FROM memory.lexical_stats s WHERE s.workspace = model_complete.workspace), 0);
  allowed bigint := greatest(10, floor(active * memory.policy_number((memory.policy(workspace)).settings, 'recall.incomplete_model_ratio', 0.02)))::bigint;
  pending bigint;
BEGIN
  SELECT count(*) INTO pending FROM (
    SELECT 1 FROM memory.embedding_queue q
     WHERE q.workspace = model_complete.workspace AND q.model = model_complete.model COLLATE "default" LIMIT allowed + 1) p;
  RETURN pending <= allowed;
END
$$;
COMMENT ON FUNCTION memory.model_complete(name, text) IS
  'Whether a model''s embeddings cover a workspace well enough for vector recall: at most recall.incomplete_model_ratio (default 2 %, at least 10) of its active memories still queued or failed.';

-- The ranking weights and constants recall uses, from the workspace policy (one place to tune them).
CREATE OR REPLACE FUNCTION memory.recall_settings(workspace name DEFAULT NULL)
RETURNS TABLE (weight_vector float8, weight_lexical float8, weight_importance float8, weight_recency float8,
               recency_half_life interval, bm25_k1 float8, bm25_b float8, candidates integer)
LANGUAGE sql STABLE AS $$
  SELECT memory.policy_number(p.settings, 'recall.weight.vector', 0.6),
         memory.policy_number(p.settings, 'recall.weight.lexical', 0.25),
         memory.policy_number(p.settings, 'recall.weight.importance', 0.1),
         memory.policy_number(p.settings, 'recall.weight.recency', 0.05),
         coalesce((p.settings ->> 'recall.recency_half_life')::interval, interval '14 days'),
         memory.policy_number(p.settings, 'bm25.k1', 1.2),
         memory.policy_number(p.settings, 'bm25.b', 0.75),
         memory.policy_number(p.settings, 'recall.candidates', 40)::integer
    FROM memory.policy(workspace) p
$$;
COMMENT ON FUNCTION memory.recall_settings(name) IS
  'The fusion weights (vector, lexical, importance, recency), recency half-life, BM25 k1/b and candidate count recall uses for a workspace, from its policy settings.';

CREATE OR REPLACE FUNCTION memory.recall_core(
  query text, k integer DEFAULT 10,
  types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, p_tags text[] DEFAULT NULL, tags_any text[] DEFAULT NULL,
  p_entity text DEFAULT NULL, session uuid DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
  as_of timestamptz DEFAULT NULL, min_score real DEFAULT NULL, include_archived boolean DEFAULT false,
  layers text[] DEFAULT NULL, ranking text[] DEFAULT NULL, weights jsonb DEFAULT NULL,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
RETURNS TABLE (id uuid, content text, type text, kind text, layer text, entity text, tags text[], metadata jsonb,
               status text, created_at timestamptz, valid_from timestamptz, valid_to timestamptz,
               score real, similarity real, lexical real, bm25 real, importance real, recency real, signals text[])
LANGUAGE plpgsql VOLATILE
-- Function-level settings are restored when recall returns, including the set_config calls below.
SET hnsw.iterative_scan = relaxed_order
SET hnsw.ef_search = 40
AS $$
#variable_conflict use_column
DECLARE
  ws name := memory.require_workspace();
  cfg record;
  read_only boolean := current_setting('transaction_read_only') = 'on';
  terms text[];
  v_entity text;
  n_cand integer;
  ref_time timestamptz := coalesce(as_of, now());
  mdl memory.models;
  qvec vector;
  qhash bytea;
  cached record;
  sig text[] := '{}';
  reason text;
  filter text;
  vec_ids uuid[] := '{}';
  exact_ids uuid[];
  lex_ids uuid[] := '{}';
  ids uuid[] := '{}';
  returned uuid[] := '{}';
  w_vec float8;
  w_lex float8;
  w_imp float8;
  w_rec float8;
  sig_name text;
  st record;
  w_total float8;
  r record;
BEGIN
  -- Arguments.
  IF query IS NULL OR length(btrim(query)) = 0 THEN
    PERFORM memory.invalid('query', 'must not be empty', 'Pass what to look for, e.g. recall(''where does Dana like to sit?''); briefing() lists memories without a query.');
  END IF;
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    PERFORM memory.invalid('k', format('%s is outside 1..1000', coalesce(k::text, 'NULL')), 'Pass how many memories to return, e.g. k => 10.');
  END IF;
  PERFORM memory.check_type(t, 'types') FROM unnest(types) t;
  PERFORM memory.check_layer(l, 'layers') FROM unnest(layers) l;
  IF since IS NOT NULL AND until IS NOT NULL AND since > until THEN
    PERFORM memory.invalid('since', format('%s is after until (%s)', since, until));
  END IF;
  IF min_score IS NOT NULL AND min_score = 'NaN'::real THEN
    PERFORM memory.invalid('min_score', 'must be a number', 'Pass a score from 0 to 1.');
  END IF;
  IF weights IS NOT NULL AND jsonb_typeof(weights) <> 'object' THEN
    PERFORM memory.invalid('weights', 'must be a JSON object', 'Example: weights => ''{"vector": 0.5, "lexical": 0.5}''.');
  END IF;
  FOR sig_name IN SELECT x FROM unnest(ranking) x UNION ALL SELECT jsonb_object_keys(weights) LOOP
    IF sig_name IS NULL OR sig_name NOT IN ('vector', 'lexical', 'importance', 'recency') THEN
      PERFORM memory.invalid(CASE WHEN sig_name = ANY (ranking) THEN 'ranking' ELSE 'weights' END,
        format('unknown signal %L', sig_name), 'Signals: vector, lexical, importance, recency.');
    END IF;
    IF weights ? sig_name AND (jsonb_typeof(weights -> sig_name) <> 'number' OR (weights ->> sig_name)::float8 < 0) THEN
      PERFORM memory.invalid('weights', format('the weight of %s must be a number >= 0', sig_name));
    END IF;
  END LOOP;
  SELECT * INTO cfg FROM memory.recall_settings(ws);
  -- Per-call weights replace the policy's; signals left out of ranking weigh nothing and generate no candidates.
  w_vec := CASE WHEN ranking IS NULL OR 'vector' = ANY (ranking) THEN coalesce((weights ->> 'vector')::float8, cfg.weight_vector) ELSE 0 END;
  w_lex := CASE WHEN ranking IS NULL OR 'lexical' = ANY (ranking) THEN coalesce((weights ->> 'lexical')::float8, cfg.weight_lexical) ELSE 0 END;
  w_imp := CASE WHEN ranking IS NULL OR 'importance' = ANY (ranking) THEN coalesce((weights ->> 'importance')::float8, cfg.weight_importance) ELSE 0 END;
  w_rec := CASE WHEN ranking IS NULL OR 'recency' = ANY (ranking) THEN coalesce((weights ->> 'recency')::float8, cfg.weight_recency) ELSE 0 END;
  IF w_vec = 0 AND w_lex = 0 THEN
    PERFORM memory.invalid(CASE WHEN ranking IS NOT NULL THEN 'ranking' ELSE 'weights' END,
      'leaves neither vector nor lexical relevance: recall needs at least one of them to find candidates',
      'Keep vector or lexical, e.g. ranking => ''{lexical}''.');
  END IF;
  terms := CASE WHEN w_lex > 0 THEN memory.query_terms(query, ws) ELSE '{}' END;
  v_entity := coalesce(p_entity, memory.scope_setting('entity'));
  n_cand := greatest(k * 4, cfg.candidates);
  PERFORM set_config('hnsw.ef_search', least(greatest(n_cand, 40), 1000)::text, true);

  -- The query vector: given by the proxy, else the embed worker's cache for this text, else none.
  IF w_vec = 0 THEN
    NULL;  -- vector relevance not asked for: no vector, no fallback to report
  ELSIF _embedding IS NOT NULL THEN
    mdl := memory.check_model(_model, _embedding);
    IF memory.model_complete(ws, mdl.name) THEN
      qvec := _embedding;
    ELSE
      reason := format('fallback: model %s is still embedding this workspace''s memories', mdl.name);
    END IF;
  ELSE
    IF _model IS NOT NULL OR memory.default_model() IS NOT NULL THEN
      mdl := memory.check_model(_model);
      qhash := memory.content_hash(query);
      SELECT q.embedding, q.last_used_at INTO cached FROM memory.query_embeddings q
       WHERE q.workspace = ws AND q.model = mdl.name AND q.query_hash = qhash;
      IF FOUND AND cached.embedding IS NOT NULL THEN
        IF memory.model_complete(ws, mdl.name) THEN
          qvec := cached.embedding;
        ELSE
          reason := format('fallback: model %s is still embedding this workspace''s memories', mdl.name);
        END IF;
        IF NOT read_only AND cached.last_used_at < now() - interval '1 hour' THEN
          UPDATE memory.query_embeddings q SET last_used_at = now()
           WHERE q.workspace = ws AND q.model = mdl.name AND q.query_hash = qhash;
        END IF;
      ELSIF FOUND THEN
        reason := 'fallback: no query vector yet (the embed worker has not computed it)';
      ELSIF read_only THEN
        reason := 'fallback: no query vector (read-only transaction: not queued)';
      ELSE
        INSERT INTO memory.query_embeddings (workspace, model, query_hash, query)
        VALUES (ws, mdl.name, qhash, btrim(query)) ON CONFLICT DO NOTHING;
        PERFORM pg_notify('memory_embed', mdl.name);
        reason := 'fallback: no query vector (queued for the embed worker)';
      END IF;
    ELSE
      reason := 'fallback: no embedding model registered';
    END IF;
  END IF;

  -- Filters, shared by both candidate generators.
  filter := 'm.workspace = $1';
  IF as_of IS NULL THEN
    filter := filter || CASE WHEN include_archived THEN ' AND m.status IN (''active'', ''archived'')' ELSE ' AND m.status = ''active''' END
                     || ' AND (m.expires_at IS NULL OR m.expires_at > now()) AND (m.valid_to IS NULL OR m.valid_to > now())';
  ELSE
    filter := filter || ' AND m.status IN (''active'', ''superseded'', ''archived'') AND m.created_at <= $10 AND m.valid_from <= $10'
                     || ' AND (m.valid_to IS NULL OR m.valid_to > $10) AND (m.expires_at IS NULL OR m.expires_at > $10)';
  END IF;
  IF types IS NOT NULL THEN filter := filter || ' AND m.type = ANY ($2)'; END IF;
  IF kinds IS NOT NULL THEN filter := filter || ' AND m.kind = ANY ($3)'; END IF;
  IF p_tags IS NOT NULL THEN filter := filter || ' AND m.tags @> $4'; END IF;
  IF tags_any IS NOT NULL THEN filter := filter || ' AND m.tags && $5'; END IF;
  IF v_entity IS NOT NULL AND v_entity <> '*' THEN filter := filter || ' AND m.entity = $6'; END IF;
  IF session IS NOT NULL THEN filter := filter || ' AND m.session_id = $7'; END IF;
  IF since IS NOT NULL THEN filter := filter || ' AND m.created_at >= $8'; END IF;
  IF until IS NOT NULL THEN filter := filter || ' AND m.created_at < $9'; END IF;
  IF layers IS NOT NULL THEN filter := filter || ' AND m.layer = ANY ($11)'; END IF;

  -- Vector candidates: the model's partial HNSW index, scanned iteratively until n_cand rows pass the
  -- filters. If it still comes back short (hnsw.max_scan_tuples reached), an exact scan of the filtered
  -- rows makes sure recall never returns fewer rows than match.
  IF qvec IS NOT NULL THEN
    EXECUTE format('SELECT coalesce(array_agg(c.memory_id), ''{}'') FROM ('
                   'SELECT e.memory_id FROM memory.embeddings e JOIN memory.memories m ON m.id = e.memory_id '
                   'WHERE e.model = %L AND e.workspace = $1 AND %s '
                   'ORDER BY (e.embedding::vector(%s)) <=> $12 LIMIT $14) c', mdl.name, filter, mdl.dimension)
      INTO vec_ids
      USING ws, types, kinds, p_tags, tags_any, v_entity, session, since, until, ref_time, layers, qvec, terms, n_cand;
    IF cardinality(vec_ids) < n_cand THEN
      EXECUTE format('SELECT coalesce(array_agg(c.memory_id), ''{}'') FROM ('
                     'SELECT e.memory_id FROM memory.embeddings e JOIN memory.memories m ON m.id = e.memory_id '
                     'WHERE e.model = %L AND e.workspace = $1 AND %s '
                     'ORDER BY ((e.embedding::vector(%s)) <=> $12) + 0 LIMIT $14) c', mdl.name, filter, mdl.dimension)
        INTO exact_ids
        USING ws, types, kinds, p_tags, tags_any, v_entity, session, since, until, ref_time, layers, qvec, terms, n_cand;
      IF cardinality(exact_ids) > cardinality(vec_ids) THEN
        vec_ids := exact_ids;
        sig := sig || 'vector:exact'::text;
      END IF;
    END IF;
    sig := sig || 'vector'::text;
  END IF;

  -- Lexical candidates: per query term, the postings with the highest BM25 impact among filtered rows.
  IF cardinality(terms) > 0 THEN
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT c.memory_id), ''{}'') FROM unnest($13) q(term) '
                   'CROSS JOIN LATERAL (SELECT p.memory_id FROM memory.lexical_postings p JOIN memory.memories m ON m.id = p.memory_id '
                   'WHERE p.workspace = $1 AND p.term = q.term AND %s ORDER BY p.impact DESC LIMIT $14) c', filter)
      INTO lex_ids
      USING ws, types, kinds, p_tags, tags_any, v_entity, session, since, until, ref_time, layers, qvec, terms, n_cand;
    sig := sig || 'lexical'::text;
  ELSIF qvec IS NULL AND w_lex > 0 THEN
    reason := coalesce(reason || '; ', '') || 'no lexical terms in the query';
  END IF;
  IF w_imp > 0 THEN sig := sig || 'importance'::text; END IF;
  IF w_rec > 0 THEN sig := sig || 'recency'::text; END IF;
  IF mdl.name IS NOT NULL AND qvec IS NOT NULL THEN sig := sig || ('model:' || mdl.name); END IF;
  IF reason IS NOT NULL THEN sig := sig || reason; END IF;

  ids := vec_ids || lex_ids;
  IF cardinality(ids) = 0 THEN
    IF reason IS NOT NULL THEN RAISE NOTICE 'MemorySql recall: %', reason; END IF;
    RETURN;
  END IF;

  -- Fusion over the candidates: score = Σ weight · component / Σ weight of the signals used, where
  -- similarity is clamped at 0 and lexical is bm25 divided by the best bm25 among the candidates.
  w_vec := CASE WHEN qvec IS NOT NULL THEN w_vec ELSE 0 END;
  w_lex := CASE WHEN cardinality(terms) > 0 THEN w_lex ELSE 0 END;
  w_total := nullif(w_vec + w_lex + w_imp + w_rec, 0);
  SELECT * INTO st FROM memory.bm25_idf(ws, terms);
  FOR r IN EXECUTE format($q$
    WITH sims AS (%s),
    base AS (
      SELECT m.id, m.content, m.type, m.kind, m.layer, m.entity, m.tags, m.metadata, m.status, m.created_at,
             m.valid_from, m.valid_to, s.sim AS similarity,
             coalesce(bx.bm25, 0)::real AS bm25,
             memory.effective_importance(m) AS importance,
             exp(ln(0.5) * greatest(extract(epoch FROM $6 - m.valid_from), 0) / $7)::real AS recency
        FROM memory.memories m
        LEFT JOIN sims s ON s.memory_id = m.id
        -- BM25 from the candidate's own lexical vector (same formula as memory.bm25_doc, inlined).
        LEFT JOIN LATERAL (
          SELECT sum(q.idf * t.tf * ($4 + 1) / (t.tf + $4 * (1 - $5 + $5 * m.lexical_length / $17))) AS bm25
            FROM (SELECT l.lexeme AS term, coalesce(array_length(l.positions, 1), 1) AS tf FROM unnest(m.lexical) l) t
            JOIN unnest($2::text[], $16::float8[]) q(term, idf) ON q.term = t.term) bx ON true
       WHERE m.id = ANY ($3)),
    normalised AS (
      SELECT b.*, coalesce(b.bm25 / nullif(max(b.bm25) OVER (), 0), 0)::real AS lexical FROM base b),
    scored AS (
      SELECT n.*, ((coalesce(greatest(n.similarity, 0), 0) * $8 + n.lexical * $9 + n.importance * $10 + n.recency * $11) / $12)::real AS score
        FROM normalised n)
    SELECT * FROM scored s WHERE $13::real IS NULL OR s.score >= $13 ORDER BY s.score DESC, s.id LIMIT $14
    $q$,
    CASE WHEN qvec IS NOT NULL
         THEN format('SELECT e.memory_id, (1 - ((e.embedding::vector(%s)) <=> $15))::real AS sim FROM memory.embeddings e WHERE e.model = %L AND e.memory_id = ANY ($3)', mdl.dimension, mdl.name)
         ELSE 'SELECT NULL::uuid AS memory_id, NULL::real AS sim WHERE false' END)
    USING ws, terms, ids, cfg.bm25_k1, cfg.bm25_b, ref_time,
          greatest(extract(epoch FROM cfg.recency_half_life), 1)::float8,
          w_vec, w_lex, w_imp, w_rec, w_total, min_score, k, qvec, st.idfs, st.avgdl
  LOOP
    id := r.id; content := r.content; type := r.type; kind := r.kind; layer := r.layer; entity := r.entity;
    tags := r.tags; metadata := r.metadata; status := r.status; created_at := r.created_at;
    valid_from := r.valid_from; valid_to := r.valid_to; score := r.score; similarity := r.similarity;
    lexical := r.lexical; bm25 := r.bm25; importance := r.importance; recency := r.recency; signals := sig;
    RETURN NEXT;
    returned := returned || r.id;
  END LOOP;

  -- Access statistics, best effort: never in a read-only transaction, never waiting for a locked row.
  IF NOT read_only AND cardinality(returned) > 0 THEN
    UPDATE memory.memories m SET access_count = m.access_count + 1, last_accessed_at = now()
     WHERE m.id IN (SELECT x.id FROM memory.memories x
                     WHERE x.id = ANY (returned)
                       FOR UPDATE SKIP LOCKED);
  END IF;
END
$$;
COMMENT ON FUNCTION memory.recall_core(text, integer, text[], text[], text[], text[], text, uuid, timestamptz, timestamptz, timestamptz, real, boolean, text[], text[], jsonb, vector, text) IS
  'Internal: the implementation of recall() (same arguments, in the same order).';
CREATE OR REPLACE FUNCTION memory.recall(
  query text, k integer DEFAULT 10,
  types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL, tags_any text[] DEFAULT NULL,
  entity text DEFAULT NULL, session uuid DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
  as_of timestamptz DEFAULT NULL, min_score real DEFAULT NULL, include_archived boolean DEFAULT false,
  layers text[] DEFAULT NULL, ranking text[] DEFAULT NULL, weights jsonb DEFAULT NULL,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
RETURNS TABLE (id uuid, content text, type text, kind text, layer text, entity text, tags text[], metadata jsonb,
               status text, created_at timestamptz, valid_from timestamptz, valid_to timestamptz,
               score real, similarity real, lexical real, bm25 real, importance real, recency real, signals text[])
LANGUAGE sql VOLATILE AS $$
  -- PL/pgSQL cannot have an argument and an output column of the same name (entity, tags): the work is
  -- done by recall_core, this wrapper gives it the contract's names.
  SELECT * FROM memory.recall_core(query, k, types, kinds, tags, tags_any, entity, session, since, until, as_of,
                                   min_score, include_archived, layers, ranking, weights, _embedding, _model)
$$;
COMMENT ON FUNCTION memory.recall(text, integer, text[], text[], text[], text[], text, uuid, timestamptz, timestamptz, timestamptz, real, boolean, text[], text[], jsonb, vector, text) IS
  'Hybrid recall: candidates from the model''s HNSW index and from the BM25 index, filtered, fused into score = Σ weight · (similarity, lexical, importance, recency) / Σ weights used. Every component is its own column; signals says which were used and why one was missing. Touches access statistics unless the transaction is read-only.';
