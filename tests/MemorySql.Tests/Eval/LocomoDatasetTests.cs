using MemorySql.Eval;

namespace MemorySql.Tests.Eval;

public sealed class LocomoDatasetTests
{
    [Theory]
    [InlineData("D30:05", "D30:5")]
    [InlineData("D:11:26", "D11:26")]
    [InlineData("D1:3", "D1:3")]
    [InlineData("D", null)]
    [InlineData("D8", null)]
    public void NormaliseDiaId_RepairsWhatCanBeRepaired(string raw, string? expected) =>
        Assert.Equal(expected, LocomoDataset.NormaliseDiaId(raw));

    [Fact]
    public void ParseSessionTime_ReadsLocomoDates() =>
        Assert.Equal(new DateTimeOffset(2023, 5, 8, 13, 56, 0, TimeSpan.Zero), LocomoDataset.ParseSessionTime("1:56 pm on 8 May, 2023"));

    [Fact]
    public void Load_SplitsJoinedIds_DropsUnknownOnes_AndCountsWhatItDid()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, """
            [{"sample_id": "s1",
              "conversation": {"speaker_a": "A", "speaker_b": "B",
                "session_1_date_time": "1:56 pm on 8 May, 2023",
                "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hello"},
                              {"speaker": "B", "dia_id": "D1:2", "text": "look", "blip_caption": "a photo of a cat"}]},
              "qa": [{"question": "q1", "answer": "x", "evidence": ["D1:1; D1:2"], "category": 1},
                     {"question": "q2", "answer": "x", "evidence": ["D9:9"], "category": 4},
                     {"question": "q3", "adversarial_answer": "x", "evidence": ["D1:02"], "category": 5}]}]
            """);
        try
        {
            var (conversations, report) = LocomoDataset.Load(path);
            var c = Assert.Single(conversations);
            Assert.Equal(2, c.Turns.Count);
            Assert.Equal("a photo of a cat", c.Turns[1].ImageCaption);
            Assert.Equal(["D1:1", "D1:2"], c.Questions[0].Evidence);
            Assert.Empty(c.Questions[1].Evidence);
            Assert.Equal(["D1:2"], c.Questions[2].Evidence);
            Assert.Equal(3, report.Questions);
            Assert.Equal(1, report.DroppedEvidenceIds);
            Assert.Equal(1, report.QuestionsWithoutEvidence);
            Assert.Equal(3, report.NormalisedEvidenceIds);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void EvidenceRecall_IsTheFractionOfEvidenceInTopK()
    {
        Assert.Equal(0.5, RetrievalMetrics.EvidenceRecall(["a", "x", "b"], ["a", "b"], 2));
        Assert.Equal(1.0, RetrievalMetrics.EvidenceRecall(["a", "x", "b"], ["a", "b"], 3));
        Assert.True(double.IsNaN(RetrievalMetrics.EvidenceRecall(["a"], [], 1)));
    }
}
