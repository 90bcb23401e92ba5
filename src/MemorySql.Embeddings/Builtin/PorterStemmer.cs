namespace MemorySql.Embeddings.Builtin;

/// <summary>
/// The Porter (1980) English suffix stripper, working in place on a lower-case ASCII word.
/// It follows Martin Porter's reference implementation step by step (including its "bli"→"ble" and
/// "logi"→"log" departures from the paper), so its output matches published vocabularies. Changing it
/// changes the builtin model's vectors: that needs a new model version.
/// </summary>
internal ref struct PorterStemmer
{
    private readonly Span<char> _b;
    private int _k; // index of the last character of the current word
    private int _j; // end of the stem when a suffix matched

    private PorterStemmer(Span<char> word)
    {
        _b = word;
        _k = word.Length - 1;
        _j = 0;
    }

    /// <summary>Stems <paramref name="word"/> (lower-case a–z only) in place and returns the new length.</summary>
    public static int Stem(Span<char> word)
    {
        if (word.Length <= 2) return word.Length;
        var stemmer = new PorterStemmer(word);
        stemmer.Step1ab();
        if (stemmer._k > 0)
        {
            stemmer.Step1c();
            stemmer.Step2();
            stemmer.Step3();
            stemmer.Step4();
            stemmer.Step5();
        }
        return stemmer._k + 1;
    }

    /// <summary>True when the word is lower-case ASCII letters only: the stemmer leaves everything else alone.</summary>
    public static bool CanStem(ReadOnlySpan<char> word)
    {
        foreach (var c in word)
            if (c is < 'a' or > 'z') return false;
        return word.Length > 2;
    }

    private readonly bool IsConsonant(int i) => _b[i] switch
    {
        'a' or 'e' or 'i' or 'o' or 'u' => false,
        'y' => i == 0 || !IsConsonant(i - 1),
        _ => true,
    };

    /// <summary>The number of vowel-consonant sequences in b[0.._j].</summary>
    private readonly int Measure()
    {
        var n = 0;
        var i = 0;
        while (true)
        {
            if (i > _j) return n;
            if (!IsConsonant(i)) break;
            i++;
        }
        i++;
        while (true)
        {
            while (true)
            {
                if (i > _j) return n;
                if (IsConsonant(i)) break;
                i++;
            }
            i++;
            n++;
            while (true)
            {
                if (i > _j) return n;
                if (!IsConsonant(i)) break;
                i++;
            }
            i++;
        }
    }

    private readonly bool VowelInStem()
    {
        for (var i = 0; i <= _j; i++)
            if (!IsConsonant(i)) return true;
        return false;
    }

    private readonly bool DoubleConsonant(int j) => j >= 1 && _b[j] == _b[j - 1] && IsConsonant(j);

    /// <summary>consonant-vowel-consonant ending at i, where the last consonant is not w, x or y.</summary>
    private readonly bool Cvc(int i)
    {
        if (i < 2 || !IsConsonant(i) || IsConsonant(i - 1) || !IsConsonant(i - 2)) return false;
        return _b[i] is not ('w' or 'x' or 'y');
    }

    private bool Ends(string suffix)
    {
        var length = suffix.Length;
        if (length > _k + 1) return false;
        if (!_b.Slice(_k - length + 1, length).SequenceEqual(suffix)) return false;
        _j = _k - length;
        return true;
    }

    private void SetTo(string replacement)
    {
        replacement.AsSpan().CopyTo(_b[(_j + 1)..]);
        _k = _j + replacement.Length;
    }

    private void ReplaceIfMeasured(string replacement)
    {
        if (Measure() > 0) SetTo(replacement);
    }

    private void Step1ab()
    {
        if (_b[_k] == 's')
        {
            if (Ends("sses")) _k -= 2;
            else if (Ends("ies")) SetTo("i");
            else if (_b[_k - 1] != 's') _k--;
        }
        if (Ends("eed"))
        {
            if (Measure() > 0) _k--;
        }
        else if ((Ends("ed") || Ends("ing")) && VowelInStem())
        {
            _k = _j;
            if (Ends("at")) SetTo("ate");
            else if (Ends("bl")) SetTo("ble");
            else if (Ends("iz")) SetTo("ize");
            else if (DoubleConsonant(_k))
            {
                if (_b[_k] is not ('l' or 's' or 'z')) _k--;
            }
            else if (Measure() == 1 && Cvc(_k))
            {
                _j = _k;
                SetTo("e");
            }
        }
    }

    private void Step1c()
    {
        if (Ends("y") && VowelInStem()) _b[_k] = 'i';
    }

    private void Step2()
    {
        if (_k < 1) return;
        switch (_b[_k - 1])
        {
            case 'a':
                if (Ends("ational")) ReplaceIfMeasured("ate");
                else if (Ends("tional")) ReplaceIfMeasured("tion");
                break;
            case 'c':
                if (Ends("enci")) ReplaceIfMeasured("ence");
                else if (Ends("anci")) ReplaceIfMeasured("ance");
                break;
            case 'e':
                if (Ends("izer")) ReplaceIfMeasured("ize");
                break;
            case 'l':
                if (Ends("bli")) ReplaceIfMeasured("ble");
                else if (Ends("alli")) ReplaceIfMeasured("al");
                else if (Ends("entli")) ReplaceIfMeasured("ent");
                else if (Ends("eli")) ReplaceIfMeasured("e");
                else if (Ends("ousli")) ReplaceIfMeasured("ous");
                break;
            case 'o':
                if (Ends("ization")) ReplaceIfMeasured("ize");
                else if (Ends("ation")) ReplaceIfMeasured("ate");
                else if (Ends("ator")) ReplaceIfMeasured("ate");
                break;
            case 's':
                if (Ends("alism")) ReplaceIfMeasured("al");
                else if (Ends("iveness")) ReplaceIfMeasured("ive");
                else if (Ends("fulness")) ReplaceIfMeasured("ful");
                else if (Ends("ousness")) ReplaceIfMeasured("ous");
                break;
            case 't':
                if (Ends("aliti")) ReplaceIfMeasured("al");
                else if (Ends("iviti")) ReplaceIfMeasured("ive");
                else if (Ends("biliti")) ReplaceIfMeasured("ble");
                break;
            case 'g':
                if (Ends("logi")) ReplaceIfMeasured("log");
                break;
        }
    }

    private void Step3()
    {
        switch (_b[_k])
        {
            case 'e':
                if (Ends("icate")) ReplaceIfMeasured("ic");
                else if (Ends("ative")) ReplaceIfMeasured("");
                else if (Ends("alize")) ReplaceIfMeasured("al");
                break;
            case 'i':
                if (Ends("iciti")) ReplaceIfMeasured("ic");
                break;
            case 'l':
                if (Ends("ical")) ReplaceIfMeasured("ic");
                else if (Ends("ful")) ReplaceIfMeasured("");
                break;
            case 's':
                if (Ends("ness")) ReplaceIfMeasured("");
                break;
        }
    }

    private void Step4()
    {
        if (_k < 1) return;
        var matched = _b[_k - 1] switch
        {
            'a' => Ends("al"),
            'c' => Ends("ance") || Ends("ence"),
            'e' => Ends("er"),
            'i' => Ends("ic"),
            'l' => Ends("able") || Ends("ible"),
            'n' => Ends("ant") || Ends("ement") || Ends("ment") || Ends("ent"),
            'o' => (Ends("ion") && _j >= 0 && _b[_j] is 's' or 't') || Ends("ou"),
            's' => Ends("ism"),
            't' => Ends("ate") || Ends("iti"),
            'u' => Ends("ous"),
            'v' => Ends("ive"),
            'z' => Ends("ize"),
            _ => false,
        };
        if (matched && Measure() > 1) _k = _j;
    }

    private void Step5()
    {
        _j = _k;
        if (_b[_k] == 'e')
        {
            var m = Measure();
            if (m > 1 || (m == 1 && !Cvc(_k - 1))) _k--;
        }
        if (_b[_k] == 'l' && DoubleConsonant(_k) && Measure() > 1) _k--;
    }
}
