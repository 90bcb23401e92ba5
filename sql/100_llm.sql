-- LLM token accounting and budgets: every LLM call MemorySql makes (reflect through the proxy, extraction,
-- reflection, contradiction judging) is a row of memory.llm_usage; a workspace may have a daily token budget
-- (policy llm.budget_tokens_per_day) and may forbid LLM use altogether (policy llm.enabled = false). Callers
-- check memory.llm_budget() before calling and fall back to their offline path, saying why.

-- The start of the budget day: midnight UTC.
CREATE OR REPLACE FUNCTION memory.llm_day_start(at timestamptz DEFAULT now()) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT date_trunc('day', at, 'UTC')
$$;
COMMENT ON FUNCTION memory.llm_day_start(timestamptz) IS 'Start of the LLM budget day containing a time: midnight UTC.';

CREATE OR REPLACE FUNCTION memory.llm_budget(p_workspace name DEFAULT NULL)
RETURNS TABLE (workspace name, enabled boolean, budget_tokens bigint, used_tokens bigint, remaining_tokens bigint,
               exceeded boolean, resets_at timestamptz, offline_reason text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  ws name := coalesce(p_workspace, memory.require_workspace());
  settings jsonb := (memory.policy(ws)).settings;
  day_start timestamptz := memory.llm_day_start();
BEGIN
  workspace := ws;
  enabled := coalesce(settings -> 'llm.enabled', 'true'::jsonb) <> 'false'::jsonb;
  budget_tokens := CASE WHEN jsonb_typeof(settings -> 'llm.budget_tokens_per_day') = 'number'
                        THEN floor((settings ->> 'llm.budget_tokens_per_day')::numeric)::bigint END;
  SELECT coalesce(sum(u.prompt_tokens::bigint + u.completion_tokens), 0) INTO used_tokens
    FROM memory.llm_usage u WHERE u.workspace = ws AND u.at >= day_start;
  remaining_tokens := CASE WHEN budget_tokens IS NOT NULL THEN greatest(budget_tokens - used_tokens, 0) END;
  exceeded := budget_tokens IS NOT NULL AND used_tokens >= budget_tokens;
  resets_at := day_start + interval '1 day';
  offline_reason := CASE
    WHEN NOT enabled THEN 'LLM use is disabled for this workspace (policy llm.enabled = false)'
    WHEN exceeded THEN format('the workspace''s LLM token budget for today is spent (%s of %s tokens, policy llm.budget_tokens_per_day; it resets at %s)',
                              used_tokens, budget_tokens, to_char(resets_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
  END;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION memory.llm_budget(name) IS
  'Whether a workspace (default: the current one) may use the LLM now: enabled (policy llm.enabled), budget_tokens (policy llm.budget_tokens_per_day, NULL = none), tokens used since midnight UTC, remaining, exceeded, when it resets, and offline_reason (NULL when the LLM may be used). MemorySql checks it before every LLM call.';

-- Daily totals per workspace, purpose and model: what the LLM cost, where anyone can see it.
CREATE VIEW memory.llm_usage_summary WITH (security_invoker = true) AS
SELECT u.workspace, (u.at AT TIME ZONE 'UTC')::date AS day, u.purpose, u.model,
       count(*) AS calls,
       count(*) FILTER (WHERE NOT u.ok) AS failed_calls,
       sum(u.prompt_tokens)::bigint AS prompt_tokens,
       sum(u.completion_tokens)::bigint AS completion_tokens,
       sum(u.prompt_tokens::bigint + u.completion_tokens)::bigint AS total_tokens
  FROM memory.llm_usage u
 GROUP BY u.workspace, (u.at AT TIME ZONE 'UTC')::date, u.purpose, u.model;
COMMENT ON VIEW memory.llm_usage_summary IS
  'LLM calls and tokens per workspace, UTC day, purpose (reflect, extract, reflection, contradiction, …) and model; failed calls included (their tokens were spent too).';
