using System.Globalization;
using System.Text.Json;

namespace MemorySql.Embeddings.Llm;

/// <summary>
/// Checks a JSON value against the subset of JSON Schema that MemorySql's requests use: <c>type</c> (one name or
/// a list: object, array, string, number, integer, boolean, null), <c>properties</c>, <c>required</c>,
/// <c>additionalProperties</c> (false, true or a schema), <c>items</c>, <c>enum</c>, <c>minItems</c>,
/// <c>maxItems</c>, <c>minLength</c>, <c>maxLength</c>, <c>minimum</c>, <c>maximum</c>. Other keywords
/// (<c>description</c>, …) are ignored. Errors name the JSON path, so they can be sent back to the model.
/// </summary>
public static class JsonSchemaValidator
{
    /// <summary>At most this many errors are reported: enough for a repair prompt, never a flood.</summary>
    public const int MaxErrors = 10;

    /// <summary>The problems of <paramref name="value"/> against <paramref name="schema"/>; empty when it matches.</summary>
    public static IReadOnlyList<string> Validate(JsonElement value, JsonElement schema)
    {
        var errors = new List<string>();
        Check(value, schema, "$", errors);
        return errors;
    }

    private static void Check(JsonElement value, JsonElement schema, string path, List<string> errors)
    {
        if (errors.Count >= MaxErrors || schema.ValueKind != JsonValueKind.Object) return;

        if (schema.TryGetProperty("type", out var type) && !MatchesType(value, type))
        {
            Add(errors, $"{path}: expected {Describe(type)}, got {KindOf(value)}");
            return; // the other keywords would only repeat the problem
        }
        if (schema.TryGetProperty("enum", out var allowed) && allowed.ValueKind == JsonValueKind.Array
            && !allowed.EnumerateArray().Any(a => JsonElement.DeepEquals(a, value)))
        {
            var list = string.Join(", ", allowed.EnumerateArray().Take(20).Select(a => a.GetRawText()));
            Add(errors, $"{path}: {Short(value)} is not one of {list}");
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                CheckObject(value, schema, path, errors);
                break;
            case JsonValueKind.Array:
                var count = value.GetArrayLength();
                if (Number(schema, "minItems") is { } minItems && count < minItems)
                    Add(errors, Inv($"{path}: has {count} items, at least {minItems} required"));
                if (Number(schema, "maxItems") is { } maxItems && count > maxItems)
                    Add(errors, Inv($"{path}: has {count} items, at most {maxItems} allowed"));
                if (schema.TryGetProperty("items", out var items))
                {
                    var i = 0;
                    foreach (var item in value.EnumerateArray()) Check(item, items, Inv($"{path}[{i++}]"), errors);
                }
                break;
            case JsonValueKind.String:
                var length = value.GetString()!.Length;
                if (Number(schema, "minLength") is { } minLength && length < minLength)
                    Add(errors, Inv($"{path}: is {length} characters long, at least {minLength} required"));
                if (Number(schema, "maxLength") is { } maxLength && length > maxLength)
                    Add(errors, Inv($"{path}: is {length} characters long, at most {maxLength} allowed"));
                break;
            case JsonValueKind.Number:
                var number = value.GetDouble();
                if (Number(schema, "minimum") is { } minimum && number < minimum)
                    Add(errors, Inv($"{path}: {value.GetRawText()} is below the minimum {minimum}"));
                if (Number(schema, "maximum") is { } maximum && number > maximum)
                    Add(errors, Inv($"{path}: {value.GetRawText()} is above the maximum {maximum}"));
                break;
        }
    }

    private static void CheckObject(JsonElement value, JsonElement schema, string path, List<string> errors)
    {
        var hasProperties = schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object;
        if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
        {
            foreach (var name in required.EnumerateArray())
                if (name.ValueKind == JsonValueKind.String && !value.TryGetProperty(name.GetString()!, out _))
                    Add(errors, $"{path}: the property \"{name.GetString()}\" is required");
        }
        schema.TryGetProperty("additionalProperties", out var additional);
        foreach (var property in value.EnumerateObject())
        {
            var childPath = $"{path}.{property.Name}";
            if (hasProperties && properties.TryGetProperty(property.Name, out var propertySchema))
                Check(property.Value, propertySchema, childPath, errors);
            else if (additional.ValueKind == JsonValueKind.False)
                Add(errors, $"{path}: the property \"{property.Name}\" is not allowed" +
                            (hasProperties ? " (allowed: " + string.Join(", ", properties.EnumerateObject().Select(p => p.Name)) + ")" : ""));
            else if (additional.ValueKind == JsonValueKind.Object)
                Check(property.Value, additional, childPath, errors);
        }
    }

    private static bool MatchesType(JsonElement value, JsonElement type) => type.ValueKind switch
    {
        JsonValueKind.String => MatchesType(value, type.GetString()!),
        JsonValueKind.Array => type.EnumerateArray().Any(t => t.ValueKind == JsonValueKind.String && MatchesType(value, t.GetString()!)),
        _ => true,
    };

    private static bool MatchesType(JsonElement value, string type) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && Math.Floor(d) == d && double.IsFinite(d),
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };

    private static string Describe(JsonElement type) => type.ValueKind == JsonValueKind.Array
        ? string.Join(" or ", type.EnumerateArray().Select(t => t.ToString()))
        : type.ToString();

    private static string KindOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static double? Number(JsonElement schema, string keyword) =>
        schema.TryGetProperty(keyword, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string Short(JsonElement value)
    {
        var text = value.GetRawText();
        return text.Length <= 80 ? text : text[..80] + "…";
    }

    private static void Add(List<string> errors, string error)
    {
        if (errors.Count < MaxErrors) errors.Add(error);
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
