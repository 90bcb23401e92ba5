-- Rights and row-level security for the LLM, reflection and worker-health objects (migrations/0002_llm.sql,
-- sql/087, 100, 120). Same rules as sql/095_security.sql: workspaces read their own rows; MemorySql writes
-- these tables as the admin (usage, reflection groups) or through SECURITY DEFINER triggers (marks).
-- Routines created after 095 are not covered by its blanket grants, so each is granted here.

REVOKE ALL ON memory.llm_usage, memory.reflection_queue, memory.reflection_groups, memory.worker_health FROM PUBLIC, memory_user;
REVOKE ALL ON SEQUENCE memory.llm_usage_id_seq, memory.reflection_queue_id_seq FROM PUBLIC, memory_user;
GRANT SELECT ON memory.llm_usage, memory.reflection_queue, memory.reflection_groups TO memory_user;
GRANT SELECT ON memory.llm_usage_summary, memory.reflection_status TO memory_user;
-- memory.worker_health and memory.worker_status are for the admin: they hold error texts of every workspace.
-- Workspaces see live workers through memory.stats (memory.worker_summary, no error texts).
REVOKE ALL ON memory.worker_status FROM PUBLIC, memory_user;

REVOKE ALL ON FUNCTION memory.llm_day_start(timestamptz), memory.llm_budget(name), memory.reflection_topics(text, text[]),
  memory.reflection_mark(), memory.reflection_members(name, text, text, integer), memory.summaries_of(uuid[]),
  memory.reflection_forget_entity(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory.llm_day_start(timestamptz), memory.llm_budget(name), memory.reflection_topics(text, text[]),
  memory.reflection_members(name, text, text, integer), memory.summaries_of(uuid[]), memory.reflection_forget_entity(name, text)
  TO memory_user;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['llm_usage', 'reflection_queue', 'reflection_groups'] LOOP
    CALL memory.isolate_workspace_rows(t);
  END LOOP;
END
$$;
