//! Numbers and names as the report prints them.

/// How a metric is shown: a divisor and a unit (`bytes_per_s` in MiB/s).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unit {
    pub(crate) scale: f64,
    pub(crate) label: String,
}

impl Unit {
    pub(crate) fn of(metric: &str) -> Unit {
        match metric {
            "bytes_per_s" => Unit {
                scale: 1024.0 * 1024.0,
                label: "MiB/s".into(),
            },
            "iops" => Unit {
                scale: 1.0,
                label: "IOPS".into(),
            },
            "" => Unit {
                scale: 1.0,
                label: String::new(),
            },
            m => Unit {
                scale: 1.0,
                label: m.replace("_per_s", "/s").replace('_', " "),
            },
        }
    }

    /// A value in this unit, with the unit.
    pub(crate) fn show(&self, v: f64) -> String {
        let n = num(v / self.scale);
        if self.label.is_empty() {
            n
        } else {
            format!("{n} {}", self.label)
        }
    }
}

/// Three significant digits, with k/M/G beyond 10 000 (`12.3k`), plain below.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let (x, suffix) = if a >= 1e10 {
        (v / 1e9, "G")
    } else if a >= 1e7 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{}{suffix}", sig3(x))
}

/// An axis tick: in the unit (k, M, G) the axis's largest value `max` calls for, so that
/// every tick of an axis has the same suffix, with no trailing zeros (`2.5k`, `10k`).
pub(crate) fn tick(v: f64, max: f64) -> String {
    let a = max.abs();
    let (div, suffix) = if a >= 1e10 {
        (1e9, "G")
    } else if a >= 1e7 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let s = sig3(v / div);
    let s = if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "0" { s } else { format!("{s}{suffix}") }
}

/// Three significant digits without exponent (`1.23`, `12.3`, `123`, `1234`).
pub(crate) fn sig3(x: f64) -> String {
    let a = x.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    };
    if s == "-0" { "0".into() } else { s }
}

/// A duration in nanoseconds as µs, ms or s.
pub(crate) fn duration_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "–".into()
    } else if ns >= 1e9 {
        format!("{} s", sig3(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", sig3(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", sig3(ns / 1e3))
    } else {
        format!("{} ns", sig3(ns))
    }
}

/// A ratio as a signed percentage change (`+12.3 %`, `−4.0 %`).
pub(crate) fn change(r: f64) -> String {
    let p = (r - 1.0) * 100.0;
    if p >= 0.0 {
        format!("+{:.1} %", p)
    } else {
        format!("−{:.1} %", -p)
    }
}

/// A name usable in an HTML id and a file name: lowercase ASCII letters, digits and `-`.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A width in pixels that `text` needs at `size` px (a generous average glyph width, so
/// labels do not overflow whatever sans-serif font the viewer has).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(287_982_722.0), "288M");
        assert_eq!(num(12_345.0), "12.3k");
        assert_eq!(num(3393.7), "3394");
        assert_eq!(num(0.5), "0.500");
        assert_eq!(Unit::of("bytes_per_s").show(287_982_722.0), "275 MiB/s");
        assert_eq!(Unit::of("commits_per_s").show(1500.0), "1500 commits/s");
        assert_eq!(duration_ns(5_603_328.0), "5.60 ms");
        assert_eq!(tick(2000.0, 11_000.0), "2k");
        assert_eq!(tick(12_500.0, 11_000.0), "12.5k");
        assert_eq!(tick(0.0, 11_000.0), "0");
        assert_eq!(tick(1500.0, 3000.0), "1500");
        assert_eq!(change(1.234), "+23.4 %");
        assert_eq!(change(0.9), "−10.0 %");
        assert_eq!(
            slug("throughput:ram:fio-randwrite-4k (x)"),
            "throughput-ram-fio-randwrite-4k-x"
        );
    }
}
