using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Vic.Api.Metrics;

/// <summary>
/// Renders the VCH's <see cref="Meter"/>s in the Prometheus text format (version 0.0.4) for
/// <c>GET /metrics</c>. Counters and histograms accumulate as measurements arrive; observable
/// instruments are read at scrape time.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>Upper bounds (seconds) of the duration histogram buckets.</summary>
    public static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<Instrument, Dictionary<string, Series>> _series = [];
    private readonly HashSet<string> _meters;

    public PrometheusExporter(IEnumerable<string> meterNames)
    {
        _meters = [.. meterNames];
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (_meters.Contains(instrument.Meter.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.MeasurementsCompleted = (instrument, _) =>
        {
            lock (_gate)
            {
                _series.Remove(instrument);
            }
        };
        _listener.Start();
    }

    public string Scrape()
    {
        lock (_gate)
        {
            // Observable gauges report the current set of series; forget the last scrape's so vanished ones go.
            foreach (var instrument in _series.Keys.Where(IsGauge).ToList())
            {
                _series[instrument].Clear();
            }
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        lock (_gate)
        {
            foreach (var (instrument, series) in _series.OrderBy(p => p.Key.Name, StringComparer.Ordinal))
            {
                WriteFamily(text, instrument, series);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private static bool IsGauge(Instrument instrument) =>
        instrument.GetType().IsGenericType && instrument.GetType().GetGenericTypeDefinition() == typeof(ObservableGauge<>);

    private static bool IsObservableCounter(Instrument instrument) =>
        instrument.GetType().IsGenericType && instrument.GetType().GetGenericTypeDefinition() == typeof(ObservableCounter<>);

    private static bool IsHistogram(Instrument instrument) =>
        instrument.GetType().IsGenericType && instrument.GetType().GetGenericTypeDefinition() == typeof(Histogram<>);

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        var labels = Labels(tags);
        lock (_gate)
        {
            if (!_series.TryGetValue(instrument, out var byLabels))
            {
                _series[instrument] = byLabels = new Dictionary<string, Series>(StringComparer.Ordinal);
            }

            if (!byLabels.TryGetValue(labels, out var series))
            {
                byLabels[labels] = series = new Series(IsHistogram(instrument) ? new long[Buckets.Length] : null);
            }

            if (series.BucketCounts is { } buckets)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    if (number <= Buckets[i])
                    {
                        buckets[i]++;
                    }
                }

                series.Count++;
                series.Sum += number;
            }
            else if (IsGauge(instrument) || IsObservableCounter(instrument))
            {
                series.Sum = number;
            }
            else
            {
                series.Sum += number;
            }
        }
    }

    private static void WriteFamily(StringBuilder text, Instrument instrument, Dictionary<string, Series> series)
    {
        var name = instrument.Name.Replace('.', '_');
        var type = IsHistogram(instrument) ? "histogram" : IsGauge(instrument) ? "gauge" : "counter";
        if (type == "counter" && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {instrument.Description ?? name}\n");
        text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} {type}\n");
        foreach (var (labels, s) in series.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (s.BucketCounts is { } buckets)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{WithLabel(labels, "le", Format(Buckets[i]))} {buckets[i]}\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{WithLabel(labels, "le", "+Inf")} {s.Count}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}_sum{Braced(labels)} {Format(s.Sum)}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}_count{Braced(labels)} {s.Count}\n");
            }
            else
            {
                text.Append(CultureInfo.InvariantCulture, $"{name}{Braced(labels)} {Format(s.Sum)}\n");
            }
        }
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>(tags.Length);
        foreach (var (key, value) in tags)
        {
            var escaped = Convert.ToString(value, CultureInfo.InvariantCulture)?
                .Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("\"", "\\\"", StringComparison.Ordinal)
                .Replace("\n", "\\n", StringComparison.Ordinal);
            parts.Add($"{key.Replace('.', '_')}=\"{escaped}\"");
        }

        parts.Sort(StringComparer.Ordinal);
        return string.Join(',', parts);
    }

    private static string Braced(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";

    private static string WithLabel(string labels, string key, string value) =>
        "{" + (labels.Length == 0 ? "" : labels + ",") + $"{key}=\"{value}\"" + "}";

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private sealed class Series(long[]? bucketCounts)
    {
        public long[]? BucketCounts { get; } = bucketCounts;

        public long Count { get; set; }

        public double Sum { get; set; }
    }
}
