-- reflect: a synthesis over what recall finds, recorded as a category-layer summary memory linked to its
-- sources by summarizes edges. Without an LLM it is extractive (the recalled memories, best first) and
-- says so; the proxy's LLM path passes _synthesis (the text) and _sources (the ids it used).

-- The memories a reflection works from: what recall finds for the question (item layer only, so reflections do
-- not feed on reflections), as jsonb [{id, content, score, kind, entity, created_at}], best first, with
-- recall's signals. Validates the question the way reflect does.
CREATE OR REPLACE FUNCTION memory.reflect_recall(
  query text, k integer DEFAULT 10, types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL,
  entity text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL, OUT sources jsonb, OUT signals text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r record;
BEGIN
  IF query IS NULL OR length(btrim(query)) = 0 THEN
    PERFORM memory.invalid('query', 'must not be empty', 'Pass the question to reflect on.');
  END IF;
  sources := '[]';
  FOR r IN SELECT x.id, x.content, x.score, x.signals, x.kind, x.entity, x.created_at
             FROM memory.recall(query, k, types => types, kinds => kinds, tags => tags,
                                entity => coalesce(reflect_recall.entity, memory.scope_setting('entity')), since => since,
                                until => until, layers => '{item}', _embedding => _embedding, _model => _model) x
  LOOP
    signals := r.signals;
    sources := sources || jsonb_build_array(jsonb_build_object('id', r.id, 'content', r.content, 'score', r.score,
                                                               'kind', r.kind, 'entity', r.entity, 'created_at', r.created_at));
  END LOOP;
END
$$;
COMMENT ON FUNCTION memory.reflect_recall(text, integer, text[], text[], text[], text, timestamptz, timestamptz, vector, text) IS
  'Internal: the memories reflect works from — recall over the item layer with reflect''s filters — as jsonb [{id, content, score, kind, entity, created_at}] and recall''s signals.';

CREATE OR REPLACE FUNCTION memory.reflect(
  query text, k integer DEFAULT 10, types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL,
  entity text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL, record boolean DEFAULT true,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL, _synthesis text DEFAULT NULL, _sources uuid[] DEFAULT NULL,
  _llm jsonb DEFAULT NULL, _offline_reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  read_only boolean := current_setting('transaction_read_only') = 'on';
  max_chars integer := memory.policy_number((memory.policy()).settings, 'reflect.max_chars', 4000)::integer;
  mode text := CASE WHEN _synthesis IS NULL THEN 'extractive' ELSE 'llm' END;
  reason text := nullif(btrim(_offline_reason), '');
  llm jsonb;
  sources jsonb := '[]';
  source_ids uuid[] := '{}';
  signals text[];
  synthesis text;
  summary_text text;
  reflection uuid;
  r record;
  v_entity text := coalesce(reflect.entity, memory.scope_setting('entity'));
BEGIN
  IF query IS NULL OR length(btrim(query)) = 0 THEN
    PERFORM memory.invalid('query', 'must not be empty', 'Pass the question to reflect on.');
  END IF;
  IF _synthesis IS NOT NULL AND length(btrim(_synthesis)) = 0 THEN
    PERFORM memory.invalid('_synthesis', 'must not be empty when given');
  END IF;
  IF _llm IS NOT NULL AND jsonb_typeof(_llm) <> 'object' THEN
    PERFORM memory.invalid('_llm', 'must be a JSON object when given');
  END IF;
  IF mode = 'llm' THEN
    reason := NULL;
  ELSIF reason IS NULL THEN
    reason := 'no LLM synthesis was passed: reflect ran without the MemorySql proxy, or the proxy has no LLM configured (see docs/configuration.md, section Llm)';
  END IF;

  IF _sources IS NOT NULL AND (_synthesis IS NOT NULL OR _offline_reason IS NOT NULL) THEN
    -- From the proxy: the memories the LLM cited, or (offline) the ones it recalled; scores and signals in _llm.
    FOR r IN SELECT m.id, m.content FROM unnest(_sources) WITH ORDINALITY s(id, n)
               JOIN memory.memories m ON m.id = s.id ORDER BY s.n LOOP
      source_ids := source_ids || r.id;
      sources := sources || jsonb_build_array(jsonb_build_object('id', r.id, 'content', r.content,
                                                                 'score', (_llm -> 'scores' ->> r.id::text)::real));
    END LOOP;
    IF cardinality(source_ids) <> cardinality(_sources) THEN
      PERFORM memory.invalid('_sources', 'names memories that do not exist in this workspace');
    END IF;
    IF jsonb_typeof(_llm -> 'signals') = 'array' THEN
      signals := ARRAY(SELECT jsonb_array_elements_text(_llm -> 'signals'));
    END IF;
  ELSE
    SELECT x.sources, x.signals INTO sources, signals
      FROM memory.reflect_recall(query, k, types, kinds, tags, v_entity, since, until, _embedding, _model) x;
    SELECT coalesce(array_agg((s ->> 'id')::uuid ORDER BY n), '{}') INTO source_ids
      FROM jsonb_array_elements(sources) WITH ORDINALITY e(s, n);
    sources := coalesce((SELECT jsonb_agg(jsonb_build_object('id', s -> 'id', 'content', s -> 'content', 'score', s -> 'score') ORDER BY n)
                           FROM jsonb_array_elements(sources) WITH ORDINALITY e(s, n)), '[]');
  END IF;

  IF _synthesis IS NOT NULL THEN
    synthesis := btrim(_synthesis);
  ELSIF cardinality(source_ids) > 0 THEN
    SELECT string_agg('- ' || (s ->> 'content'), E'\n' ORDER BY n) INTO synthesis
      FROM jsonb_array_elements(sources) WITH ORDINALITY e(s, n);
    IF length(synthesis) > max_chars THEN synthesis := left(synthesis, max_chars - 1) || '…'; END IF;
  END IF;
  IF _llm IS NOT NULL THEN
    llm := jsonb_strip_nulls(jsonb_build_object('model', _llm -> 'model', 'prompt_tokens', _llm -> 'prompt_tokens',
                                                'completion_tokens', _llm -> 'completion_tokens'));
    IF llm = '{}' THEN llm := NULL; END IF;
  END IF;

  IF synthesis IS NOT NULL AND coalesce(record, true) AND NOT read_only THEN
    summary_text := format(E'Reflection (%s) on: %s\n%s', mode, btrim(query), synthesis);
    SELECT x.memory_id INTO reflection FROM memory.store(
      summary_text, 'semantic', 'summary', NULL, '{reflection}',
      jsonb_strip_nulls(jsonb_build_object('query', btrim(query), 'mode', mode, 'sources', to_jsonb(source_ids),
                                           'offline_reason', reason, 'llm', llm)),
      coalesce(v_entity, ''), NULL, NULL, NULL, NULL, NULL, 'category', NULL, NULL, NULL, NULL, false) x;
    INSERT INTO memory.associations (source_id, target_id, relation, workspace)
    SELECT reflection, s, 'summarizes', memory.current_workspace() FROM unnest(source_ids) s WHERE s <> reflection
    ON CONFLICT DO NOTHING;
    PERFORM memory.audit('reflect', reflection, v_entity, NULL, NULL,
                         jsonb_strip_nulls(jsonb_build_object('mode', mode, 'sources', to_jsonb(source_ids), 'offline_reason', reason, 'llm', llm)));
  END IF;

  RETURN jsonb_build_object(
    'mode', mode,
    'note', CASE WHEN mode = 'extractive'
                 THEN 'Extractive synthesis: the recalled memories, best first, without an LLM. The LLM was not used: ' || reason || '.'
                 ELSE 'Synthesis written by an LLM' || coalesce(' (' || (llm ->> 'model') || ')', '') || ' from the listed sources.' END,
    'offline_reason', reason,
    'query', btrim(query),
    'synthesis', synthesis,
    'sources', sources,
    'reflection_id', reflection,
    'recorded', reflection IS NOT NULL,
    'signals', to_jsonb(signals),
    'llm', llm);
END
$$;
COMMENT ON FUNCTION memory.reflect(text, integer, text[], text[], text[], text, timestamptz, timestamptz, boolean, vector, text, text, uuid[], jsonb, text) IS
  'Synthesis over what recall finds, returned as jsonb {mode, note, offline_reason, query, synthesis, sources, reflection_id, recorded, signals, llm} and recorded as a category-layer summary memory with summarizes edges to its sources. The MemorySql proxy passes _synthesis and _sources (the ids the LLM cited) with _llm (model, tokens, recall scores); without them, or with _offline_reason, the synthesis is extractive and says why.';

-- For the proxy's LLM path: everything it needs before asking the LLM, in one call with reflect's own
-- arguments (so the proxy can copy them): the workspace, its LLM budget and the recalled memories. Errors
-- reflect would raise for these arguments are returned as {error: {sqlstate, message}}, not raised, so the
-- client's transaction is untouched and reflect itself reports them.
CREATE OR REPLACE FUNCTION memory.reflect_context(
  query text, k integer DEFAULT 10, types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL,
  entity text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL, record boolean DEFAULT true,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL, _synthesis text DEFAULT NULL, _sources uuid[] DEFAULT NULL,
  _llm jsonb DEFAULT NULL, _offline_reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  budget record;
  found jsonb;
  found_signals text[];
BEGIN
  SELECT * INTO budget FROM memory.llm_budget();
  SELECT x.sources, x.signals INTO found, found_signals
    FROM memory.reflect_recall(query, k, types, kinds, tags, entity, since, until, _embedding, _model) x;
  RETURN jsonb_build_object(
    'workspace', budget.workspace,
    'query', btrim(query),
    'budget', jsonb_build_object('enabled', budget.enabled, 'budget_tokens', budget.budget_tokens, 'used_tokens', budget.used_tokens,
                                 'remaining_tokens', budget.remaining_tokens, 'exceeded', budget.exceeded,
                                 'offline_reason', budget.offline_reason),
    'sources', found,
    'signals', to_jsonb(found_signals),
    -- The session's statement_timeout (ms, 0 = none): the proxy bounds its wait for the LLM by what remains of it.
    'statement_timeout_ms', (SELECT s.setting::bigint FROM pg_catalog.pg_settings s WHERE s.name = 'statement_timeout'));
EXCEPTION WHEN OTHERS THEN
  RETURN jsonb_build_object('error', jsonb_build_object('sqlstate', SQLSTATE, 'message', SQLERRM));
END
$$;
COMMENT ON FUNCTION memory.reflect_context(text, integer, text[], text[], text[], text, timestamptz, timestamptz, boolean, vector, text, text, uuid[], jsonb, text) IS
  'Internal (the proxy''s LLM path for reflect): with reflect''s arguments, returns {workspace, query, budget, sources, signals, statement_timeout_ms} — the LLM budget of the workspace and the memories reflect would work from, and the session''s statement_timeout in milliseconds — or {error: {sqlstate, message}} for arguments reflect would refuse.';
