use super::*;
use chrono::TimeZone;

#[test]
fn service_and_environment_are_escaped_string_contents() {
    for (value, escaped) in [
        ("checkout", "checkout"),
        (r#"a"b"#, r#"a\"b"#),
        ("it's", r"it\'s"),
        (r"back\slash", r"back\\slash"),
        ("two\nlines\r\t", r"two\nlines\r\t"),
        ("bell\u{7}del\u{7f}", r"bell\x07del\x7f"),
        ("naïve-🚀", "naïve-🚀"),
    ] {
        assert_eq!(escape_string_contents(value), escaped, "{value:?}");
    }
}

#[test]
fn substitution_replaces_whole_tokens_only() {
    let q = r#"sum(rate(x{service="$service",env='$environment'}[5m])) / $services $"#;
    assert_eq!(
        substitute(q, "checkout", "prod"),
        r#"sum(rate(x{service="checkout",env='prod'}[5m])) / $services $"#
    );
    // A hostile service name stays inside its label value.
    let hostile = r#"a"} or vector(1) or {x="\"#;
    let out = substitute(r#"up{service="$service"}"#, hostile, "p\nq");
    assert_eq!(out, r#"up{service="a\"} or vector(1) or {x=\"\\"}"#);
    // Every occurrence, and `$environment` next to punctuation.
    assert_eq!(
        substitute("$service$service:$environment.", "s", "e"),
        "ss:e."
    );
    assert_eq!(substitute("", "s", "e"), "");
}

#[test]
fn names_read_as_words_and_choose_the_unit() {
    assert_eq!(label("ERROR_RATE"), "error rate");
    assert_eq!(label("P99_LATENCY_SECONDS"), "p99 latency seconds");
    assert_eq!(label("__ODD__NAME_"), "odd name");
    for (name, unit) in [
        ("ERROR_RATE", Unit::Percent),
        ("SUCCESS_RATIO", Unit::Percent),
        ("rate", Unit::Percent),
        ("P99_LATENCY_SECONDS", Unit::Seconds),
        ("REQUESTS_PER_SECOND", Unit::Number),
        ("RATED_THINGS", Unit::Number),
    ] {
        assert_eq!(Unit::of(name), unit, "{name}");
    }
    assert!(valid_name("ERROR_RATE") && valid_name("p99"));
    assert!(!valid_name("") && !valid_name("A-B") && !valid_name(&"A".repeat(NAME_MAX + 1)));
}

#[test]
fn values_read_sensibly_in_their_unit() {
    for (value, unit, shown) in [
        (0.002, Unit::Percent, "0.2%"),
        (0.014, Unit::Percent, "1.4%"),
        (1.0 / 6.0, Unit::Percent, "16.7%"),
        (1.0, Unit::Percent, "100%"),
        (0.0, Unit::Percent, "0%"),
        (0.000_012_3, Unit::Percent, "0.00123%"),
        (0.25, Unit::Seconds, "250 ms"),
        (1.5, Unit::Seconds, "1.5 s"),
        (0.0, Unit::Seconds, "0 s"),
        (1234.56, Unit::Number, "1235"),
        (12.345, Unit::Number, "12.3"),
        (-3.0, Unit::Number, "-3"),
        (1e12, Unit::Number, "1.00e12"),
        (f64::MAX, Unit::Number, "1.80e308"),
        (1e-9, Unit::Number, "1.00e-9"),
        (f64::NAN, Unit::Number, "n/a"),
    ] {
        assert_eq!(format_value(value, unit), shown, "{value} {unit:?}");
    }
    // No value is long, whatever Prometheus says.
    for value in [f64::MAX, f64::MIN, f64::MIN_POSITIVE, -1e-300, 123456789.0] {
        for unit in [Unit::Percent, Unit::Seconds, Unit::Number] {
            assert!(format_value(value, unit).chars().count() <= 14, "{value}");
        }
    }
}

#[test]
fn tolerance_is_a_percentage() {
    assert_eq!(parse_tolerance("10%"), Ok(0.1));
    assert_eq!(parse_tolerance(" 25 "), Ok(0.25));
    assert_eq!(parse_tolerance("0%"), Ok(0.0));
    for bad in ["ten", "-5%", "NaN", "2000%", "%"] {
        assert!(parse_tolerance(bad).is_err(), "{bad}");
    }
}

#[test]
fn comparison_respects_tolerance_and_direction() {
    use Verdict::*;
    for (before, after, higher_is_better, tolerance, verdict) in [
        (0.002, 0.014, false, 0.1, Worse),
        (0.014, 0.002, false, 0.1, Better),
        (0.100, 0.109, false, 0.1, Unchanged),
        (0.100, 0.111, false, 0.1, Worse),
        (0.100, 0.091, false, 0.1, Unchanged),
        (0.100, 0.089, false, 0.1, Better),
        (0.99, 0.80, true, 0.1, Worse),
        (0.80, 0.99, true, 0.1, Better),
        (0.0, 0.0, false, 0.1, Unchanged),
        (0.0, 0.001, false, 0.1, Worse),
        (0.0, 0.001, true, 0.1, Better),
        (-2.0, -1.0, true, 0.1, Better),
        (5.0, 5.4, false, 0.0, Worse),
    ] {
        assert_eq!(
            compare(before, after, higher_is_better, tolerance),
            verdict,
            "{before} → {after}, higher is better: {higher_is_better}"
        );
    }
}

fn vector(values: &[&str]) -> String {
    let result: Vec<Value> = values
        .iter()
        .map(|v| serde_json::json!({"metric": {}, "value": [1_700_000_000.123, v]}))
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        .to_string()
}

#[test]
fn prometheus_answers_read_as_one_number_or_a_reason() {
    assert_eq!(read_answer(200, &vector(&["0.014"])), Ok(0.014));
    let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"42"]}}"#;
    assert_eq!(read_answer(200, scalar), Ok(42.0));
    let reason = |status, body: &str| read_answer(status, body).unwrap_err().reason;
    assert_eq!(reason(200, &vector(&[])), Unavailable::NoData);
    assert_eq!(reason(200, &vector(&["NaN"])), Unavailable::NoData);
    assert_eq!(reason(200, &vector(&["+Inf"])), Unavailable::NoData);
    assert_eq!(
        reason(200, &vector(&["1", "2"])),
        Unavailable::SeveralSeries
    );
    assert_eq!(reason(200, &vector(&["one"])), Unavailable::BadAnswer);
    let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    assert_eq!(reason(200, matrix), Unavailable::BadAnswer);
    assert_eq!(reason(200, "<html>"), Unavailable::BadAnswer);
    assert_eq!(reason(502, "Bad Gateway"), Unavailable::Refused);
    let error = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
    let failure = read_answer(400, error).unwrap_err();
    assert_eq!(failure.reason, Unavailable::QueryError);
    assert_eq!(failure.detail, "bad_data: parse error at char 5");
    // Prometheus' words are cut before they are kept.
    let long =
        serde_json::json!({"status": "error", "errorType": "x", "error": "e".repeat(10_000)});
    let failure = read_answer(422, &long.to_string()).unwrap_err();
    assert_eq!(failure.detail.chars().count(), DETAIL_MAX);
}

fn reading(before: Reading, after: Reading) -> HealthReading {
    let at = Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap();
    HealthReading {
        name: "ERROR_RATE".into(),
        higher_is_better: false,
        tolerance: DEFAULT_TOLERANCE,
        before_at: at,
        before,
        after_at: at,
        after,
    }
}

#[test]
fn a_line_per_query() {
    use Unavailable::*;
    assert_eq!(
        reading(Ok(0.002), Ok(0.014)).line(),
        "error rate 0.2% → 1.4% ⚠ worse"
    );
    assert_eq!(
        reading(Ok(0.014), Ok(0.002)).line(),
        "error rate 1.4% → 0.2% ✓ better"
    );
    assert_eq!(
        reading(Ok(0.01), Ok(0.0101)).line(),
        "error rate 1% → 1.01% = unchanged"
    );
    assert_eq!(
        reading(Err(Unreachable), Err(Unreachable)).line(),
        "error rate unavailable (Prometheus unreachable)"
    );
    assert_eq!(
        reading(Ok(0.002), Err(Timeout)).line(),
        "error rate 0.2% → unavailable (Prometheus timed out)"
    );
    assert_eq!(
        reading(Err(NoData), Ok(0.5)).line(),
        "error rate unavailable → 50% (no data)"
    );
    for reason in Unavailable::ALL {
        assert_eq!(reason.as_str().parse(), Ok(reason));
    }
}

#[test]
fn a_release_in_a_word() {
    use Unavailable::*;
    assert_eq!(Overall::of(&[]), None);
    let worse = reading(Ok(0.002), Ok(0.014));
    let fine = reading(Ok(0.002), Ok(0.002));
    let down = reading(Err(Unreachable), Err(Unreachable));
    assert_eq!(
        Overall::of(&[fine.clone(), worse, down.clone()]),
        Some(Overall::Worse(vec!["error rate".into()]))
    );
    assert_eq!(
        Overall::of(std::slice::from_ref(&down)),
        Some(Overall::Unavailable)
    );
    assert_eq!(Overall::of(&[fine, down]), Some(Overall::Fine));
}
