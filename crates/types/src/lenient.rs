//! Whole numbers as JSON Schema sees them: `67` and `67.0` are the same integer. serde refuses a
//! float for an integer field; these accept any JSON number without a fraction, within range,
//! and refuse the rest with a clear message. Use with `#[serde(deserialize_with = …)]`.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

fn whole(v: number::Number) -> Option<u64> {
    v.0
}

mod number {
    /// A number read as u64 when it is a non-negative whole number, whatever its notation.
    pub struct Number(pub Option<u64>);

    impl<'de> serde::Deserialize<'de> for Number {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Number;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a whole number")
                }
                fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                    Ok(Number(Some(v)))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                    Ok(Number(u64::try_from(v).ok()))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                    let ok = v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v <= u64::MAX as f64;
                    Ok(Number(ok.then_some(v as u64)))
                }
            }
            d.deserialize_any(V)
        }
    }
}

/// A `u32` given as any whole JSON number.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = number::Number::deserialize(d)?;
    whole(n)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| D::Error::custom("expected a whole number from 0 to 4294967295"))
}

/// An optional `u32` given as any whole JSON number (or null / absent).
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = Option::<number::Number>::deserialize(d)?;
    match n {
        None => Ok(None),
        Some(n) => whole(n)
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("expected a whole number from 0 to 4294967295")),
    }
}

/// The latest Unix millisecond [`unix_ms`] accepts: 9999-12-31T23:59:59.999Z.
pub const MAX_UNIX_MS: i64 = 253_402_300_799_999;

/// A moment in Unix milliseconds, from 0 to [`MAX_UNIX_MS`], given as any whole JSON number.
pub fn unix_ms<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = number::Number::deserialize(d)?;
    whole(n)
        .and_then(|v| i64::try_from(v).ok())
        .filter(|v| *v <= MAX_UNIX_MS)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "expected a whole number of Unix milliseconds from 0 to {MAX_UNIX_MS}"
            ))
        })
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(deserialize_with = "super::u32")]
        n: u32,
        #[serde(default, deserialize_with = "super::opt_u32")]
        o: Option<u32>,
    }

    fn parse(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        assert_eq!(parse(r#"{"n":67}"#).expect("ok").n, 67);
        let t = parse(r#"{"n":67.0,"o":3.0}"#).expect("ok");
        assert_eq!((t.n, t.o), (67, Some(3)));
        assert_eq!(parse(r#"{"n":1,"o":null}"#).expect("ok").o, None);
        for bad in [
            r#"{"n":67.5}"#,
            r#"{"n":-1}"#,
            r#"{"n":4294967296}"#,
            r#"{"n":"7"}"#,
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("whole number"), "{bad}: {err}");
        }
    }

    #[derive(serde::Deserialize, Debug)]
    struct M {
        #[serde(deserialize_with = "super::unix_ms")]
        at: i64,
    }

    #[test]
    fn moments_are_whole_milliseconds_up_to_the_year_9999() {
        let parse = |json: &str| serde_json::from_str::<M>(json).map_err(|e| e.to_string());
        assert_eq!(
            parse(r#"{"at":132932673554.0}"#).expect("ok").at,
            132_932_673_554
        );
        assert_eq!(
            parse(r#"{"at":253402300799999}"#).expect("ok").at,
            super::MAX_UNIX_MS
        );
        for bad in [r#"{"at":253402300800000}"#, r#"{"at":-1}"#, r#"{"at":1.5}"#] {
            assert!(
                parse(bad).expect_err(bad).contains("Unix milliseconds"),
                "{bad}"
            );
        }
    }
}
