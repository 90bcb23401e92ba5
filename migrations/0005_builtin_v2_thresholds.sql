-- 0005: builtin-v2 (the default embedding model since 0004) gets the contradiction threshold builtin-v1 has.
-- Both are lexical models: a changed value scores lower than with a neural model ("prefers window seats" /
-- "prefers aisle seats" 0.75-0.79, "lives in Lisbon" / "lives in Porto" 0.68), so with the general 0.80 the
-- check never judged the pairs its heuristics are made for. Kept where an administrator already set it.
UPDATE memory.policies
   SET settings = '{"contradiction_threshold:builtin-v2": 0.5}'::jsonb || settings,
       updated_at = now()
 WHERE workspace = '*';
