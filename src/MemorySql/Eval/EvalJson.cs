using System.Text.Json.Serialization;

namespace MemorySql.Eval;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(List<QuestionOutcome>))]
internal sealed partial class EvalJson : JsonSerializerContext;
