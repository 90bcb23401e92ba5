-- reflect: a synthesis over what recall finds, recorded as a category-layer summary memory linked to its
-- sources by summarizes edges. Without an LLM it is extractive (the recalled memories, best first) and
-- says so; the proxy's LLM path passes _synthesis (the text) and _sources (the ids it used).

CREATE OR REPLACE FUNCTION memory.reflect(
  query text, k integer DEFAULT 10, types text[] DEFAULT NULL, kinds text[] DEFAULT NULL, tags text[] DEFAULT NULL,
  entity text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL, record boolean DEFAULT true,
  _embedding vector DEFAULT NULL, _model text DEFAULT NULL, _synthesis text DEFAULT NULL, _sources uuid[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  read_only boolean := current_setting('transaction_read_only') = 'on';
  max_chars integer := memory.policy_number((memory.policy()).settings, 'reflect.max_chars', 4000)::integer;
  mode text := CASE WHEN _synthesis IS NULL THEN 'extractive' ELSE 'llm' END;
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

  IF _synthesis IS NOT NULL AND _sources IS NOT NULL THEN
    FOR r IN SELECT m.id, m.content, NULL::real AS score FROM unnest(_sources) WITH ORDINALITY s(id, n)
               JOIN memory.memories m ON m.id = s.id ORDER BY s.n LOOP
      source_ids := source_ids || r.id;
      sources := sources || jsonb_build_array(jsonb_build_object('id', r.id, 'content', r.content));
    END LOOP;
    IF cardinality(source_ids) <> cardinality(_sources) THEN
      PERFORM memory.invalid('_sources', 'names memories that do not exist in this workspace');
    END IF;
  ELSE
    FOR r IN SELECT x.id, x.content, x.score, x.signals FROM memory.recall(query, k, types => types, kinds => kinds, tags => tags,
                                                                         entity => v_entity, since => since, until => until,
                                                                         layers => '{item}', _embedding => _embedding, _model => _model) x
    LOOP
      source_ids := source_ids || r.id;
      signals := r.signals;
      sources := sources || jsonb_build_array(jsonb_build_object('id', r.id, 'content', r.content, 'score', r.score));
    END LOOP;
  END IF;

  IF _synthesis IS NOT NULL THEN
    synthesis := btrim(_synthesis);
  ELSIF cardinality(source_ids) > 0 THEN
    SELECT string_agg('- ' || (s ->> 'content'), E'\n' ORDER BY n) INTO synthesis
      FROM jsonb_array_elements(sources) WITH ORDINALITY e(s, n);
    IF length(synthesis) > max_chars THEN synthesis := left(synthesis, max_chars - 1) || '…'; END IF;
  END IF;

  IF synthesis IS NOT NULL AND coalesce(record, true) AND NOT read_only THEN
    summary_text := format(E'Reflection (%s) on: %s\n%s', mode, btrim(query), synthesis);
    SELECT x.memory_id INTO reflection FROM memory.store(
      summary_text, 'semantic', 'summary', NULL, '{reflection}',
      jsonb_build_object('query', btrim(query), 'mode', mode, 'sources', to_jsonb(source_ids)),
      coalesce(v_entity, ''), NULL, NULL, NULL, NULL, NULL, 'category', NULL, NULL, NULL, NULL, false) x;
    INSERT INTO memory.associations (source_id, target_id, relation, workspace)
    SELECT reflection, s, 'summarizes', memory.current_workspace() FROM unnest(source_ids) s WHERE s <> reflection
    ON CONFLICT DO NOTHING;
    PERFORM memory.audit('reflect', reflection, v_entity, NULL, NULL,
                         jsonb_build_object('mode', mode, 'sources', to_jsonb(source_ids)));
  END IF;

  RETURN jsonb_build_object(
    'mode', mode,
    'note', CASE WHEN mode = 'extractive'
                 THEN 'Extractive synthesis: the recalled memories, best first, without an LLM.'
                 ELSE 'Synthesis written by an LLM from the listed sources.' END,
    'query', btrim(query),
    'synthesis', synthesis,
    'sources', sources,
    'reflection_id', reflection,
    'recorded', reflection IS NOT NULL,
    'signals', to_jsonb(signals));
END
$$;
COMMENT ON FUNCTION memory.reflect(text, integer, text[], text[], text[], text, timestamptz, timestamptz, boolean, vector, text, text, uuid[]) IS
  'Synthesis over what recall finds, returned as jsonb {mode, note, query, synthesis, sources, reflection_id, recorded, signals} and recorded as a category-layer summary memory with summarizes edges to its sources. Without an LLM (no _synthesis) it is extractive; the proxy passes _synthesis and _sources from an LLM.';
