namespace RdNet.Transport.Tcp;

/// <summary>
/// A TCP sequence number with serial-number arithmetic (RFC 1982, RFC 9293 §3.4): comparisons and differences are
/// taken modulo 2^32, so every comparison stays correct across the wrap. Two numbers are comparable when they are
/// less than 2^31 apart, which TCP's window limits (at most 2^30) guarantee.
/// </summary>
public readonly record struct SeqNum(uint Value) : IComparable<SeqNum>
{
    public static SeqNum operator +(SeqNum a, int n) => new(unchecked(a.Value + (uint)n));
    public static SeqNum operator -(SeqNum a, int n) => new(unchecked(a.Value - (uint)n));

    /// <summary>The signed distance from <paramref name="b"/> to <paramref name="a"/>.</summary>
    public static int operator -(SeqNum a, SeqNum b) => unchecked((int)(a.Value - b.Value));

    public static bool operator <(SeqNum a, SeqNum b) => a - b < 0;
    public static bool operator >(SeqNum a, SeqNum b) => a - b > 0;
    public static bool operator <=(SeqNum a, SeqNum b) => a - b <= 0;
    public static bool operator >=(SeqNum a, SeqNum b) => a - b >= 0;

    public static SeqNum Max(SeqNum a, SeqNum b) => a >= b ? a : b;
    public static SeqNum Min(SeqNum a, SeqNum b) => a <= b ? a : b;

    /// <summary><paramref name="lo"/> ≤ this &lt; <paramref name="hi"/>, in serial arithmetic.</summary>
    public bool InRange(SeqNum lo, SeqNum hi) => this >= lo && this < hi;

    public int CompareTo(SeqNum other) => this - other;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
