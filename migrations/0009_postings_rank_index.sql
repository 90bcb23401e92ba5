-- 0009: recall reads, per query term, the postings of highest impact, up to a cut-off. Postings of equal
-- impact (same term frequency and length) are common, and which of them made the cut depended on the order
-- the index happened to hold them in (their heap position): the same question over the same memories could
-- rank differently after a reload or a vacuum. With memory_id in the key, the order — impact, then id — is
-- total, and the scan still stops at the cut-off (an index-only scan, as before with memory_id included).
CREATE INDEX IF NOT EXISTS lexical_postings_rank_idx ON memory.lexical_postings (workspace, term, impact DESC, memory_id);
DROP INDEX IF EXISTS memory.lexical_postings_top_idx;
