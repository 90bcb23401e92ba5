-- Reading memories: recall (hybrid ranking) and reflect (synthesis over what recall finds).

-- A model is complete for a workspace while few of its memories still wait for an embedding: at most
-- recall.incomplete_model_ratio (2 %) of the active memories, and never fewer than 10. The normal lag of
-- fresh writes stays under that; the backfill after register_model stays above it until nearly done.
CREATE OR REPLACE FUNCTION memory.model_complete(workspace name, model text)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN memory.model_complete(workspace, model,
    coalesce((SELECT sum(s.docs) FROM memory.lexical_stats s WHERE s.workspace = model_complete.workspace), 0)::bigint,
    memory.policy_number((memory.policy(workspace)).settings, 'recall.incomplete_model_ratio', 0.02));
END
$$;
COMMENT ON FUNCTION memory.model_complete(name, text) IS
  'Whether a model''s embeddings cover a workspace well enough for vector recall: at most recall.incomplete_model_ratio (default 2 %, at least 10) of its active memories still queued or failed.';

-- The same with the workspace's active memory count and the policy's ratio at hand (recall reads both anyway).
CREATE OR REPLACE FUNCTION memory.model_complete(workspace name, model text, active bigint, ratio float8)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
  allowed bigint := greatest(10, floor(active * ratio))::bigint;
  pending bigint;
BEGIN
  SELECT count(*) INTO pending FROM (
    SELECT 1 FROM memory.embedding_queue q
     WHERE q.workspace = model_complete.workspace AND q.model = model_complete.model COLLATE "default" LIMIT allowed + 1) p;
  RETURN pending <= allowed;
END
$$;
COMMENT ON FUNCTION memory.model_complete(name, text, bigint, float8) IS
  'Internal: model_complete(workspace, model) given the workspace''s active memories and recall.incomplete_model_ratio: at most that share (at least 10) still queued or failed.';

-- The ranking weights and constants recall uses, from the workspace policy (one place to tune them).
CREATE OR REPLACE FUNCTION memory.recall_settings(workspace name DEFAULT NULL)
RETURNS TABLE (weight_vector float8, weight_lexical float8, weight_importance float8, weight_recency float8,
               weight_entity float8, weight_context float8, recency_half_life interval, bm25_k1 float8, bm25_b float8, candidates integer,
               decay_half_life interval, decay_floor real, decay_access_boost real)
LANGUAGE sql STABLE AS $$
  SELECT memory.policy_number(p.settings, 'recall.weight.vector', 0.25),
         memory.policy_number(p.settings, 'recall.weight.lexical', 0.25),
         memory.policy_number(p.settings, 'recall.weight.importance', 0.1),
         memory.policy_number(p.settings, 'recall.weight.recency', 0.05),
         memory.policy_number(p.settings, 'recall.weight.entity', 0.1),
         memory.policy_number(p.settings, 'recall.weight.context', 0.4),
         coalesce((p.settings ->> 'recall.recency_half_life')::interval, interval '14 days'),
         memory.policy_number(p.settings, 'bm25.k1', 1.2),
         memory.policy_number(p.settings, 'bm25.b', 0.75),
         memory.policy_number(p.settings, 'recall.candidates', 40)::integer,
         p.decay_half_life, p.decay_floor, memory.policy_number(p.settings, 'decay.access_boost', 0.2)::real
    FROM memory.policy(workspace) p
$$;
COMMENT ON FUNCTION memory.recall_settings(name) IS
  'The fusion weights (vector, lexical, importance, recency, entity, context), recency half-life, BM25 k1/b, candidate count and decay parameters (for effective importance) recall uses for a workspace, from its policy.';

-- The weight of one ranking signal for a call: 0 when ranking leaves it out, else the call's weights, else the
-- workspace policy's recall.weight.<signal>, else the default.
CREATE OR REPLACE FUNCTION memory.recall_weight(settings jsonb, weights jsonb, ranking text[], signal text, fallback float8)
RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN ranking IS NOT NULL AND NOT signal = ANY (ranking) THEN 0
              WHEN jsonb_typeof(weights -> signal) = 'number' THEN (weights ->> signal)::float8
              ELSE memory.policy_number(settings, 'recall.weight.' || signal, fallback) END
$$;
COMMENT ON FUNCTION memory.recall_weight(jsonb, jsonb, text[], text, float8) IS
  'Internal: the weight recall gives one signal: 0 when the call''s ranking leaves it out, else the call''s weights, else the policy setting recall.weight.<signal>, else the default.';

-- Whether a memory is one recall may return under its filters (the predicate of every candidate generator).
CREATE OR REPLACE FUNCTION memory.recall_visible(m memory.memories, as_of timestamptz, include_archived boolean,
  types text[], kinds text[], tags text[], tags_any text[], any_entity boolean, entity text, session uuid,
  since timestamptz, until timestamptz, layers text[])
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN as_of IS NULL
              THEN (m.status = 'active' OR (include_archived AND m.status = 'archived'))
                   AND (m.expires_at IS NULL OR m.expires_at > now()) AND (m.valid_to IS NULL OR m.valid_to > now())
              ELSE m.status IN ('active', 'superseded', 'archived') AND m.created_at <= as_of AND m.valid_from <= as_of
                   AND (m.valid_to IS NULL OR m.valid_to > as_of) AND (m.expires_at IS NULL OR m.expires_at > as_of) END
     AND (types IS NULL OR m.type = ANY (types)) AND (kinds IS NULL OR m.kind = ANY (kinds))
     AND (tags IS NULL OR m.tags @> tags) AND (tags_any IS NULL OR m.tags && tags_any)
     AND (any_entity OR m.entity = entity) AND (session IS NULL OR m.session_id = session)
     AND (since IS NULL OR m.created_at >= since) AND (until IS NULL OR m.created_at < until)
     AND (layers IS NULL OR m.layer = ANY (layers))
$$;
COMMENT ON FUNCTION memory.recall_visible(memory.memories, timestamptz, boolean, text[], text[], text[], text[], boolean, text, uuid, timestamptz, timestamptz, text[]) IS
  'Internal: whether recall may return a memory under its filters (status, validity and expiry, or as_of; types, kinds, tags, tags_any, entity, session, since/until, layers). Inlined into recall''s statements.';

-- recall's vector candidates statement: the ids and similarities of the limit nearest embeddings of a model
-- among the memories that pass filter. The model's partial HNSW index is an expression index over the model's
-- dimension, so the statement is built per model. Its parameters: $1 the workspace, vector_param the query
-- vector and limit_param the limit (filter names the others). exact orders by the distance plus 0, which no
-- index matches: an exact scan of the filtered rows.
CREATE OR REPLACE FUNCTION memory.recall_vector_statement(model text, dimension integer, filter text,
                                                          vector_param text, limit_param text, exact boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  distance text := format('(e.embedding::vector(%s)) <=> %s', dimension, vector_param);
BEGIN
  RETURN format('SELECT coalesce(array_agg(c.memory_id), ''{}''), coalesce(array_agg((1 - c.distance)::real), ''{}'') FROM ('
                'SELECT e.memory_id, %s AS distance '
                'FROM memory.embeddings e JOIN memory.memories m ON m.id = e.memory_id '
                'WHERE e.model = %L AND e.workspace = $1 AND %s '
                'ORDER BY %s LIMIT %s) c',
                distance, model, filter, CASE WHEN exact THEN '(' || distance || ') + 0' ELSE distance END, limit_param);
END
$$;
COMMENT ON FUNCTION memory.recall_vector_statement(text, integer, text, text, text, boolean) IS
  'Internal: the text of recall''s vector-candidates statement for a model and a filter (the nearest embeddings'' ids and similarities; exact: without the HNSW index).';

-- recall returns a set of memory.recall_result (migration 0010), not a TABLE: PL/pgSQL cannot name an argument and
-- an output column alike (entity, tags), and a set of a named row type has no output columns as variables. The
-- arguments p_tags and p_entity inside are aliases of tags and entity.
CREATE OR REPLACE FUNCTION memory.recall(
  query text, k integer DEFAULT 10,
  types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL, tags_any text[] DEFAULT NULL,
  entity text DEFAULT NULL, session uuid DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
  as_of timestamptz DEFAULT NULL, min_score real DEFAULT NULL, include_archived boolean DEFAULT false,
  layers text[] DEFAULT NULL, ranking text[] DEFAULT NULL, weights jsonb DEFAULT NULL,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL)
RETURNS SETOF memory.recall_result
LANGUAGE plpgsql VOLATILE
-- Function-level settings are restored when recall returns, including the set_config call below.
SET hnsw.iterative_scan = relaxed_order
SET hnsw.ef_search = 40
-- Plans are planned once per session and reused: planning recall's statements (the candidates-and-fusion one
-- above all) cost more than running them. A call with selective filters asks for custom plans again below.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  p_tags ALIAS FOR tags;
  p_entity ALIAS FOR entity;
  ws name := memory.require_workspace();
  pol memory.policies;
  settings jsonb;
  read_only boolean := current_setting('transaction_read_only') = 'on';
  v_entity text := coalesce(p_entity, memory.scope_setting('entity'));
  any_entity boolean;
  ref_time timestamptz := coalesce(as_of, now());
  n_cand integer;
  n_ctx integer;
  n_term integer;
  w_vec float8;
  w_lex float8;
  w_imp float8;
  w_rec float8;
  w_ent float8;
  w_ctx float8;
  half_life float8;
  decay_half_life interval;
  decay_floor real;
  decay_boost real;
  n_docs float8;
  bm25_k1 float8;
  bm25_b float8;
  tsconfig regconfig;
  terms text[] := '{}';
  query_lexemes text[];
  entity_terms text[] := '{}';
  idfs float8[] := '{}';
  term_query tsquery;
  avgdl float8 := 1;
  query_words text;
  mdl memory.models;
  qvec vector;
  qhash bytea;
  cached record;
  sig text[] := '{}';
  reason text;
  filter text;
  vec_statement text;
  vec_ids uuid[] := '{}';
  vec_sims real[] := '{}';
  exact_ids uuid[];
  exact_sims real[];
  returned uuid[] := '{}';
  sig_name text;
  r memory.recall_result;
BEGIN
  -- Arguments.
  IF query IS NULL OR length(btrim(query)) = 0 THEN
    PERFORM memory.invalid('query', 'must not be empty', 'Pass what to look for, e.g. recall(''where does Dana like to sit?''); briefing() lists memories without a query.');
  END IF;
  IF k IS NULL OR k < 1 OR k > 1000 THEN
    PERFORM memory.invalid('k', format('%s is outside 1..1000', coalesce(k::text, 'NULL')), 'Pass how many memories to return, e.g. k => 10.');
  END IF;
  IF types IS NOT NULL THEN PERFORM memory.check_type(t, 'types') FROM unnest(types) t; END IF;
  IF layers IS NOT NULL THEN PERFORM memory.check_layer(l, 'layers') FROM unnest(layers) l; END IF;
  IF since IS NOT NULL AND until IS NOT NULL AND since > until THEN
    PERFORM memory.invalid('since', format('%s is after until (%s)', since, until));
  END IF;
  IF min_score IS NOT NULL AND min_score = 'NaN'::real THEN
    PERFORM memory.invalid('min_score', 'must be a number', 'Pass a score from 0 to 1.');
  END IF;
  IF weights IS NOT NULL AND jsonb_typeof(weights) <> 'object' THEN
    PERFORM memory.invalid('weights', 'must be a JSON object', 'Example: weights => ''{"vector": 0.5, "lexical": 0.5}''.');
  END IF;
  IF ranking IS NOT NULL OR weights IS NOT NULL THEN
    FOR sig_name IN SELECT x FROM unnest(ranking) x UNION ALL SELECT jsonb_object_keys(weights) LOOP
      IF sig_name IS NULL OR sig_name NOT IN ('vector', 'lexical', 'importance', 'recency', 'entity', 'context') THEN
        PERFORM memory.invalid(CASE WHEN sig_name = ANY (ranking) OR sig_name IS NULL THEN 'ranking' ELSE 'weights' END,
          format('unknown signal %L', sig_name), 'Signals: vector, lexical, importance, recency, entity, context.');
      END IF;
      IF weights ? sig_name AND (jsonb_typeof(weights -> sig_name) <> 'number' OR (weights ->> sig_name)::float8 < 0) THEN
        PERFORM memory.invalid('weights', format('the weight of %s must be a number >= 0', sig_name));
      END IF;
    END LOOP;
  END IF;

  -- Settings (policy of the workspace over the defaults), then per-call weights over them; a signal left out
  -- of ranking weighs nothing and generates no candidates.
  pol := memory.policy(ws);
  settings := pol.settings;
  -- The decay parameters (memory.decay_settings) from the same policy row.
  decay_half_life := pol.decay_half_life;
  decay_floor := pol.decay_floor;
  decay_boost := memory.policy_number(settings, 'decay.access_boost', 0.2)::real;
  w_vec := memory.recall_weight(settings, weights, ranking, 'vector', 0.25);
  w_lex := memory.recall_weight(settings, weights, ranking, 'lexical', 0.25);
  w_imp := memory.recall_weight(settings, weights, ranking, 'importance', 0.1);
  w_rec := memory.recall_weight(settings, weights, ranking, 'recency', 0.05);
  w_ent := memory.recall_weight(settings, weights, ranking, 'entity', 0.1);
  w_ctx := memory.recall_weight(settings, weights, ranking, 'context', 0.4);
  IF w_vec = 0 AND w_lex = 0 THEN
    PERFORM memory.invalid(CASE WHEN ranking IS NOT NULL THEN 'ranking' ELSE 'weights' END,
      'leaves neither vector nor lexical relevance: recall needs at least one of them to find candidates',
      'Keep vector or lexical, e.g. ranking => ''{lexical}''.');
  END IF;
  half_life := greatest(date_part('epoch', coalesce((settings ->> 'recall.recency_half_life')::interval, interval '14 days')), 1);
  bm25_k1 := memory.policy_number(settings, 'bm25.k1', 1.2);
  bm25_b := memory.policy_number(settings, 'bm25.b', 0.75);
  n_cand := greatest(k, memory.policy_number(settings, 'recall.candidates', 40)::integer);
  -- Session neighbours for the 20 most relevant candidates: on LoCoMo recall@10 equals probing all 40 (73.3
  -- against 73.0) at half the probes and neighbours, which were a third of a recall's work.
  n_ctx := least(greatest(memory.policy_number(settings, 'recall.context_candidates', 20)::integer, 0), n_cand);
  any_entity := v_entity IS NULL OR v_entity = '*';
  IF w_lex > 0 THEN
    tsconfig := memory.text_search_config_named(settings ->> 'text_search_config');
    query_lexemes := tsvector_to_array(to_tsvector(tsconfig, query));
  END IF;

  -- A query word that names an entity of the workspace ("what did Dana say") is matched against the
  -- memories' entity (the entity signal), not their text: in a conversation a speaker's name appears in
  -- the turns addressed to them, not in their own. Unless the query has nothing but names: then they are
  -- searched in the text after all (no lexeme to leave out).
  IF w_lex > 0 AND w_ent > 0 AND any_entity THEN
    SELECT CASE WHEN query_lexemes <@ e.lexemes THEN '{}' ELSE e.lexemes END INTO entity_terms
      FROM (SELECT coalesce(array_agg(DISTINCT l.lexeme), '{}') AS lexemes
              FROM regexp_split_to_table(lower(query), '[^[:alnum:]]+') w(word)
              -- One index probe per query word: the first entity_key (= lower(entity)) at or after the word, in
              -- index order (memories_entity_key_idx), then equal or not. Asked as "= word" the planner, which
              -- cannot know that most words name no entity, prefers reading the table until a match turns up; and
              -- lower(entity) in the query would keep every index out under row-level security (lower() is not
              -- leakproof).
              CROSS JOIN LATERAL (SELECT m.entity_key FROM memory.memories m
                                   WHERE m.workspace = ws AND m.entity_key >= w.word ORDER BY m.entity_key LIMIT 1) named
              CROSS JOIN LATERAL unnest(to_tsvector(tsconfig, w.word)) l
             WHERE length(w.word) > 1 AND named.entity_key = w.word) e;
  END IF;

  -- The workspace's active memories and their mean length in lexemes (BM25; and whether a model covers them).
  SELECT coalesce(sum(x.docs), 0)::float8, coalesce(sum(x.total_length)::float8 / nullif(sum(x.docs), 0), 1)
    INTO n_docs, avgdl
    FROM memory.lexical_stats x WHERE x.workspace = ws;

  -- Query terms with their idf (memory.bm25_idf's formula; each term's document frequency read once: a LATERAL
  -- subquery, not a scalar subquery the planner would copy into every expression using it), the entity words
  -- left out.
  IF w_lex > 0 THEN
    SELECT coalesce(array_agg(q.term ORDER BY q.term), '{}'),
           coalesce(array_agg(ln(1 + (n_docs - q.df + 0.5) / (q.df + 0.5)) ORDER BY q.term), '{}')
      INTO terms, idfs
      FROM (SELECT l.term, coalesce(d.df, 0)::float8 AS df
              FROM unnest(query_lexemes) l(term)
              LEFT JOIN LATERAL (SELECT greatest(sum(t.df), 0) AS df FROM memory.lexical_terms t
                                  WHERE t.workspace = ws AND t.term = l.term COLLATE "default") d ON true
             WHERE NOT l.term = ANY (entity_terms)) q;
    -- The terms as one tsquery (any of them): a candidate's BM25 is computed only when its text contains one
    -- (@@, a binary search per term), not by unnesting every lexeme of every candidate (most vector candidates
    -- and session neighbours contain none).
    term_query := memory.lexeme_query(terms);
  END IF;
  -- Lexical candidates per term: a share of the budget (twice the even share, never fewer than k, so every
  -- term that matches k memories still brings k of them).
  n_term := least(n_cand, greatest(k, ceil(2.0 * n_cand / greatest(cardinality(terms), 1))::integer));
  IF w_ent > 0 AND any_entity THEN
    query_words := ' ' || lower(regexp_replace(query, '[^[:alnum:]]+', ' ', 'g')) || ' ';
  END IF;

  -- The query vector, when vector relevance is asked for: given by the proxy, else the embed worker's cache for
  -- this text, else none (and the reason, a fallback signal).
  IF w_vec <> 0 THEN
    IF _embedding IS NOT NULL THEN
      mdl := memory.check_model(_model, _embedding);
      qvec := _embedding;
    ELSIF _model IS NOT NULL OR memory.default_model() IS NOT NULL THEN
      mdl := memory.check_model(_model);
      qhash := memory.content_hash(query);
      SELECT q.embedding, q.last_used_at INTO cached FROM memory.query_embeddings q
       WHERE q.workspace = ws AND q.model = mdl.name AND q.query_hash = qhash;
      IF FOUND AND cached.embedding IS NOT NULL THEN
        qvec := cached.embedding;
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
    -- A model still embedding the workspace's memories would leave most of them out of the vector candidates.
    IF qvec IS NOT NULL AND NOT memory.model_complete(ws, mdl.name, n_docs::bigint,
                                                      memory.policy_number(settings, 'recall.incomplete_model_ratio', 0.02)) THEN
      qvec := NULL;
      reason := format('fallback: model %s is still embedding this workspace''s memories', mdl.name);
    END IF;
  END IF;

  -- Vector candidates: the model's partial HNSW index (memory.recall_vector_statement), scanned iteratively until
  -- n_cand rows pass the filters. If it still comes back short (hnsw.max_scan_tuples reached), an exact scan of
  -- the filtered rows makes sure recall never returns fewer rows than match.
  IF qvec IS NOT NULL THEN
    -- More candidates than the function's ef_search (40) need a larger search list (up to pgvector's 1000).
    IF n_cand > 40 THEN PERFORM set_config('hnsw.ef_search', least(n_cand, 1000)::text, true); END IF;
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
    IF NOT any_entity THEN filter := filter || ' AND m.entity = $6'; END IF;
    IF session IS NOT NULL THEN filter := filter || ' AND m.session_id = $7'; END IF;
    IF since IS NOT NULL THEN filter := filter || ' AND m.created_at >= $8'; END IF;
    IF until IS NOT NULL THEN filter := filter || ' AND m.created_at < $9'; END IF;
    IF layers IS NOT NULL THEN filter := filter || ' AND m.layer = ANY ($11)'; END IF;
    -- With each candidate its similarity, so scoring need not read its embedding again.
    IF as_of IS NULL AND types IS NULL AND kinds IS NULL AND p_tags IS NULL AND tags_any IS NULL AND any_entity
       AND session IS NULL AND since IS NULL AND until IS NULL AND layers IS NULL THEN
      -- No filter beyond status and validity (the usual call): a prepared statement of this connection, planned
      -- once, instead of planning the statement on every call (EXECUTE plans each time). Its arguments go in as
      -- literals (a prepared statement's EXECUTE takes no parameters from PL/pgSQL).
      vec_statement := 'memorysql_recall_' || md5(format('%s/%s/%s', mdl.name, mdl.dimension, filter));
      IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements p WHERE p.name = vec_statement) THEN
        EXECUTE format('PREPARE %I(name, vector, integer) AS %s', vec_statement,
                       memory.recall_vector_statement(mdl.name, mdl.dimension, filter, '$2', '$3', false));
      END IF;
      EXECUTE format('EXECUTE %I(%L, %L, %s)', vec_statement, ws, qvec, n_cand) INTO vec_ids, vec_sims;
    ELSE
      EXECUTE memory.recall_vector_statement(mdl.name, mdl.dimension, filter, '$12', '$13', false)
        INTO vec_ids, vec_sims
        USING ws, types, kinds, p_tags, tags_any, v_entity, session, since, until, ref_time, layers, qvec, n_cand;
    END IF;
    IF cardinality(vec_ids) < n_cand THEN
      EXECUTE memory.recall_vector_statement(mdl.name, mdl.dimension, filter, '$12', '$13', true)
        INTO exact_ids, exact_sims
        USING ws, types, kinds, p_tags, tags_any, v_entity, session, since, until, ref_time, layers, qvec, n_cand;
      IF cardinality(exact_ids) > cardinality(vec_ids) THEN
        vec_ids := exact_ids;
        vec_sims := exact_sims;
        sig := sig || 'vector:exact'::text;
      END IF;
    END IF;
    sig := sig || 'vector'::text;
  END IF;
  IF cardinality(terms) > 0 THEN
    sig := sig || 'lexical'::text;
  ELSIF qvec IS NULL AND w_lex > 0 THEN
    reason := coalesce(reason || '; ', '') || 'no lexical terms in the query';
  END IF;
  IF qvec IS NULL THEN w_vec := 0; END IF;
  IF cardinality(terms) = 0 THEN w_lex := 0; END IF;
  IF cardinality(terms) = 0 AND qvec IS NULL THEN
    sig := sig || reason;
    RAISE NOTICE 'MemorySql: recall: %', reason;
    RETURN;
  END IF;

  -- Candidates, their context, and fusion, in one static statement (its plan is cached):
  --   lexical:   per query term, the postings of highest BM25 impact among the memories that pass the filters;
  --   relevance: (w_vector · similarity + w_lexical · lexical) / (w_vector + w_lexical), where similarity is
  --              clamped at 0 and lexical is bm25 over the best bm25 among the candidates (at most 1);
  --   context:   the best relevance of the memory's neighbours in its session (the memories just before and
  --              after it), probed for the n_ctx most relevant candidates (recall.context_candidates, at most
  --              n_cand); a neighbour that is not a candidate itself joins the candidates;
  --   score:     Σ weight · component / Σ weight of the signals used (entity = 1 when the query names the
  --              memory's entity).
  -- With a selective filter (a session, an entity, tags, a time range, ...) a plan made for the values at hand
  -- may walk the filter's index instead of the postings: plan this call's statement for them.
  IF types IS NOT NULL OR kinds IS NOT NULL OR p_tags IS NOT NULL OR tags_any IS NOT NULL OR NOT any_entity
     OR session IS NOT NULL OR since IS NOT NULL OR until IS NOT NULL OR as_of IS NOT NULL OR layers IS NOT NULL THEN
    PERFORM set_config('plan_cache_mode', 'auto', true);
  END IF;
  FOR r IN
    WITH lex AS (
      SELECT c.memory_id
        FROM unnest(terms) q(term)
        CROSS JOIN LATERAL (
          SELECT p.memory_id FROM memory.lexical_postings p
           WHERE p.workspace = ws AND p.term = q.term COLLATE "default"
             -- The memory through its primary key only, so the plan stays one probe per posting.
             AND EXISTS (SELECT 1 FROM memory.memories m
                          WHERE m.id = p.memory_id
                            AND memory.recall_visible(m, as_of, include_archived, types, kinds, p_tags, tags_any,
                                                      any_entity, v_entity, session, since, until, layers))
           -- Ties of impact broken by id (lexical_postings_rank_idx), so the cut-off is the same on every run.
           ORDER BY p.impact DESC, p.memory_id LIMIT n_term) c),
    cand AS (
      SELECT x.memory_id, max(x.similarity) AS similarity
        FROM (SELECT l.memory_id, NULL::real AS similarity FROM lex l
              UNION ALL SELECT v.id, v.similarity FROM unnest(vec_ids, vec_sims) v(id, similarity)) x
       GROUP BY x.memory_id),
    scored0 AS (
      SELECT m.id, m.session_id, m.valid_from, m.entity, m.importance, m.recency,
             CASE WHEN qvec IS NOT NULL THEN coalesce(c.similarity,
               (SELECT (1 - (e.embedding <=> qvec))::real FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = mdl.name)) END AS similarity,
             CASE WHEN m.lexical @@ term_query THEN d.bm25 ELSE 0 END AS bm25
        FROM cand c
        CROSS JOIN LATERAL (SELECT x.id, x.session_id, x.valid_from, x.lexical, x.lexical_length, x.entity,
                                   memory.effective_importance(x.importance, x.pinned, x.access_count, greatest(x.created_at, x.last_accessed_at),
                                                                decay_half_life, decay_floor, decay_boost, ref_time) AS importance,
                                   exp(-0.6931471805599453 * greatest(date_part('epoch', ref_time - x.valid_from), 0) / half_life)::real AS recency
                              FROM memory.memories x WHERE x.id = c.memory_id) m
        -- Inlined (a set-returning SQL function), its subquery run only for a candidate whose text contains a
        -- term (the CASE above).
        CROSS JOIN LATERAL memory.bm25_doc(m.lexical, m.lexical_length, terms, idfs, bm25_k1, bm25_b, avgdl) d),
    best AS (SELECT nullif(max(s.bm25), 0) AS bm25 FROM scored0 s),
    top AS (
      SELECT s.id, s.session_id, s.valid_from FROM scored0 s, best
       WHERE w_ctx > 0 AND s.session_id IS NOT NULL
       ORDER BY coalesce(greatest(s.similarity, 0), 0) * w_vec + coalesce(s.bm25 / best.bm25, 0) * w_lex DESC, s.id
       LIMIT n_ctx),
    -- Each edge scores its neighbour from the row the probe read (no second read of it, and no wide rows kept);
    -- only its similarity, a read of its embedding, waits until it is known not to be a candidate already.
    edges AS (
      SELECT t.id AS src, x.id AS dst, x.entity,
             memory.effective_importance(x.importance, x.pinned, x.access_count, greatest(x.created_at, x.last_accessed_at),
                                          decay_half_life, decay_floor, decay_boost, ref_time) AS importance,
             exp(-0.6931471805599453 * greatest(date_part('epoch', ref_time - x.valid_from), 0) / half_life)::real AS recency,
             CASE WHEN x.lexical @@ term_query THEN d.bm25 ELSE 0 END AS bm25
        FROM top t
        CROSS JOIN LATERAL (
          (SELECT y.id, y.valid_from, y.entity, y.lexical, y.lexical_length,
                  y.importance, y.pinned, y.access_count, y.created_at, y.last_accessed_at
             FROM memory.memories y
            WHERE y.session_id = t.session_id AND y.valid_from < t.valid_from
              AND memory.recall_visible(y, as_of, include_archived, types, kinds, p_tags, tags_any,
                                        any_entity, v_entity, session, since, until, layers)
            ORDER BY y.valid_from DESC LIMIT 1)
          UNION ALL
          (SELECT y.id, y.valid_from, y.entity, y.lexical, y.lexical_length,
                  y.importance, y.pinned, y.access_count, y.created_at, y.last_accessed_at
             FROM memory.memories y
            WHERE y.session_id = t.session_id AND y.valid_from > t.valid_from
              AND memory.recall_visible(y, as_of, include_archived, types, kinds, p_tags, tags_any,
                                        any_entity, v_entity, session, since, until, layers)
            ORDER BY y.valid_from LIMIT 1)) x
        CROSS JOIN LATERAL memory.bm25_doc(x.lexical, x.lexical_length, terms, idfs, bm25_k1, bm25_b, avgdl) d),
    scored1 AS (
      SELECT m.id, NULL::uuid AS session_id, NULL::timestamptz AS valid_from, m.entity, m.importance, m.recency,
             CASE WHEN qvec IS NOT NULL THEN
               (SELECT (1 - (e.embedding <=> qvec))::real FROM memory.embeddings e WHERE e.memory_id = m.id AND e.model = mdl.name) END AS similarity,
             m.bm25
        FROM (SELECT DISTINCT ON (e.dst) e.dst AS id, e.entity, e.importance, e.recency, e.bm25
                FROM edges e WHERE NOT EXISTS (SELECT 1 FROM scored0 s WHERE s.id = e.dst)
               ORDER BY e.dst) m),
    relevant AS (
      SELECT s.id, s.entity, s.importance, s.recency, s.similarity, s.bm25, least(coalesce(s.bm25 / best.bm25, 0), 1)::real AS lexical,
             ((coalesce(greatest(s.similarity, 0), 0) * w_vec + least(coalesce(s.bm25 / best.bm25, 0), 1) * w_lex)
              / nullif(w_vec + w_lex, 0))::real AS relevance
        FROM (SELECT * FROM scored0 UNION ALL SELECT * FROM scored1) s, best),
    neighbourhood AS (
      SELECT x.id, max(o.relevance) AS context
        FROM (SELECT e.src AS id, e.dst AS other FROM edges e UNION ALL SELECT e.dst, e.src FROM edges e) x
        JOIN relevant o ON o.id = x.other
       GROUP BY x.id),
    contextual AS (
      SELECT rl.*, coalesce(nb.context, 0)::real AS context
        FROM relevant rl LEFT JOIN neighbourhood nb ON nb.id = rl.id),
    -- Whether the query names an entity, once per distinct entity (a handful), not per candidate (MATERIALIZED:
    -- else the planner moves the expression above the join, back to once per candidate).
    named AS MATERIALIZED (
      SELECT e.entity, strpos(query_words, ' ' || lower(regexp_replace(e.entity, '[^[:alnum:]]+', ' ', 'g')) || ' ') > 0 AS named
        FROM (SELECT DISTINCT r.entity FROM relevant r WHERE query_words IS NOT NULL AND r.entity IS NOT NULL) e),
    fused AS (
      SELECT c.*, coalesce(n.named, false) AS entity_named
        FROM contextual c LEFT JOIN named n ON n.entity = c.entity),
    -- Whether the entity and context signals were used at all (the query named an entity of a candidate, a
    -- candidate had session neighbours): one row, computed once per call, which the scores and the signals read.
    used AS (
      SELECT EXISTS (SELECT 1 FROM named n WHERE n.named) AS entity_used, EXISTS (SELECT 1 FROM edges) AS context_used),
    final AS (
      SELECT s.*,
             ((coalesce(greatest(s.similarity, 0), 0) * w_vec + s.lexical * w_lex + s.context * w_ctx
               + s.importance * w_imp + s.recency * w_rec + CASE WHEN s.entity_named THEN w_ent ELSE 0 END)
              / nullif(w_vec + w_lex + CASE WHEN u.context_used THEN w_ctx ELSE 0 END + w_imp + w_rec
                       + CASE WHEN u.entity_used THEN w_ent ELSE 0 END, 0))::real AS score
        FROM fused s, used u)
    -- The rows as recall returns them. Which signals were used is the same for every row: computed once (an
    -- InitPlan), not per row.
    SELECT f.id, m.content, m.type, m.kind, m.layer, m.entity, m.tags, m.metadata, m.status, m.created_at, m.valid_from, m.valid_to,
           f.score, f.similarity, f.lexical, f.bm25, f.importance, f.recency,
           (SELECT sig || CASE WHEN w_ctx > 0 AND u.context_used THEN '{context}'::text[] ELSE '{}' END
                       || CASE WHEN w_imp > 0 THEN '{importance}'::text[] ELSE '{}' END
                       || CASE WHEN w_rec > 0 THEN '{recency}'::text[] ELSE '{}' END
                       || CASE WHEN w_ent > 0 AND u.entity_used THEN '{entity}'::text[] ELSE '{}' END
                       || CASE WHEN mdl.name IS NOT NULL AND qvec IS NOT NULL THEN ARRAY['model:' || mdl.name] ELSE '{}' END
                       || CASE WHEN reason IS NOT NULL THEN ARRAY[reason] ELSE '{}' END
              FROM used u) AS signals,
           f.context, CASE WHEN f.entity_named THEN 1 ELSE 0 END::real AS entity_match
      FROM (SELECT * FROM final x WHERE min_score IS NULL OR x.score >= min_score ORDER BY x.score DESC, x.id LIMIT k) f
      CROSS JOIN LATERAL (SELECT * FROM memory.memories y WHERE y.id = f.id) m
     ORDER BY f.score DESC, f.id
  LOOP
    RETURN NEXT r;
    returned := returned || r.id;
  END LOOP;
  IF cardinality(returned) = 0 AND reason IS NOT NULL THEN
    RAISE NOTICE 'MemorySql: recall: %', reason;
  END IF;

  -- Access statistics: the hits go to the unlogged memory.access_log, folded into the memories' access_count
  -- and last_accessed_at within seconds (memory.fold_access, the access worker). Writing memory.memories here
  -- made every recall a logged write whose commit waited for a WAL flush; a transaction that wrote only
  -- unlogged tables does not wait. Never in a read-only transaction.
  IF NOT read_only AND cardinality(returned) > 0 THEN
    INSERT INTO memory.access_log (workspace, memory_id) SELECT ws, u.id FROM unnest(returned) u(id);
  END IF;
END
$$;
COMMENT ON FUNCTION memory.recall(text, integer, text[], text[], text[], text[], text, uuid, timestamptz, timestamptz, timestamptz, real, boolean, text[], text[], jsonb, vector, text) IS
  'Hybrid recall: candidates from the model''s HNSW index and from the BM25 index, filtered, fused into score = Σ weight · (similarity, lexical, importance, recency) / Σ weights used. Every component is its own column; signals says which were used and why one was missing. Records an access hit per returned memory unless the transaction is read-only (memory.access_log, folded into access_count and last_accessed_at within seconds by memory.fold_access).';

-- Folding recall's access hits (memory.access_log) into the memories. Hits are taken FOR UPDATE SKIP LOCKED
-- and each memory is locked FOR UPDATE SKIP LOCKED too: a fold never waits for a user's transaction (nor
-- deadlocks with one) — the hits of a memory locked right now stay for the next fold. Hits of memories that
-- no longer exist are dropped. Under row-level security a workspace folds its own hits only.
CREATE OR REPLACE FUNCTION memory.fold_access(batch_size integer DEFAULT 100000)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  folded integer;
BEGIN
  IF batch_size IS NULL OR batch_size < 1 OR batch_size > 1000000 THEN
    PERFORM memory.invalid('batch_size', format('%s is outside 1..1000000', coalesce(batch_size::text, 'NULL')),
      'Pass how many access hits to fold at most, e.g. batch_size => 100000.');
  END IF;
  WITH batch AS (
    SELECT a.ctid AS tid, a.workspace, a.memory_id, a.accessed_at FROM memory.access_log a
     LIMIT batch_size FOR UPDATE SKIP LOCKED),
  hits AS (
    SELECT b.workspace, b.memory_id, count(*)::integer AS n, max(b.accessed_at) AS last
      FROM batch b GROUP BY b.workspace, b.memory_id),
  locked AS (
    SELECT x.id, h.n, h.last
      FROM hits h
      CROSS JOIN LATERAL (SELECT y.id FROM memory.memories y
                           WHERE y.id = h.memory_id AND y.workspace = h.workspace FOR UPDATE SKIP LOCKED) x),
  bumped AS (
    UPDATE memory.memories m SET access_count = m.access_count + l.n,
                                 last_accessed_at = greatest(m.last_accessed_at, l.last)
      FROM locked l
     WHERE m.id = l.id
    RETURNING m.id),
  done AS (
    DELETE FROM memory.access_log a
     WHERE a.ctid = ANY (ARRAY(
             SELECT b.tid FROM batch b
              WHERE b.memory_id IN (SELECT u.id FROM bumped u)
                 OR NOT EXISTS (SELECT 1 FROM memory.memories y WHERE y.id = b.memory_id AND y.workspace = b.workspace)))
    RETURNING 1)
  SELECT count(*)::integer INTO folded FROM done;
  RETURN folded;
END
$$;
COMMENT ON FUNCTION memory.fold_access(integer) IS
  'Folds up to batch_size of recall''s access hits (memory.access_log) into the memories: access_count + hits, last_accessed_at = the latest hit. Returns the hits folded (0: nothing left that can be folded now). Never waits for a locked memory: its hits stay for the next fold. The access worker calls it every few seconds; call it to see figures that are exact right now.';
