//! Exact decimals: a value keeps the precision it arrived with. "36.50 °C" from a device stays
//! mantissa 3650, exponent -2; it is never rounded through a binary float on its way to the
//! record. IEEE 11073 FLOAT/SFLOAT values map onto this directly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decimal {
    pub mantissa: i64,
    pub exponent: i8,
}

/// Largest mantissa accepted: exact in an f64, wider than any medical device sends.
pub const MAX_MANTISSA: i64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a decimal number ({why})")]
pub struct DecimalParseError {
    pub text: String,
    pub why: &'static str,
}

impl Decimal {
    pub const fn new(mantissa: i64, exponent: i8) -> Self {
        Self { mantissa, exponent }
    }

    pub const fn integer(v: i64) -> Self {
        Self::new(v, 0)
    }

    /// The nearest f64 (for comparisons and calculations, never for storage).
    pub fn to_f64(self) -> f64 {
        // Divide by an exact power of ten rather than multiply by an inexact 0.01: 456e-2 must
        // be the f64 nearest 4.56, as a person reading "4.56" would expect.
        let m = self.mantissa as f64;
        if self.exponent < 0 {
            m / 10f64.powi(-i32::from(self.exponent))
        } else {
            m * 10f64.powi(i32::from(self.exponent))
        }
    }

    /// Digits after the decimal point as received.
    pub fn decimals(self) -> u32 {
        if self.exponent < 0 {
            u32::from(self.exponent.unsigned_abs())
        } else {
            0
        }
    }

    /// `self × 10^k`, exactly (the mantissa is unchanged); `None` when the exponent leaves i8.
    pub fn shift(self, k: i8) -> Option<Self> {
        self.exponent
            .checked_add(k)
            .map(|exponent| Self::new(self.mantissa, exponent))
    }

    /// Round an f64 to `decimals` places (for values we compute, not values we receive).
    pub fn from_f64(v: f64, decimals: u8) -> Option<Self> {
        if !v.is_finite() || decimals > 15 {
            return None;
        }
        let scaled = (v * 10f64.powi(i32::from(decimals))).round();
        if scaled.abs() > MAX_MANTISSA as f64 {
            return None;
        }
        Some(Self::new(scaled as i64, -(decimals as i8)))
    }
}

impl FromStr for Decimal {
    type Err = DecimalParseError;

    /// Accepts `-12`, `4.70`, `+0.5`, `.5`, `1e3`, `1.5E-2`, with `,` as decimal separator too
    /// (tablets in many locales type it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| DecimalParseError {
            text: s.to_string(),
            why,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let (num, exp_part) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        let (negative, digits) = match num.as_bytes().first() {
            Some(b'-') => (true, &num[1..]),
            Some(b'+') => (false, &num[1..]),
            _ => (false, num),
        };
        let digits = digits.replace(',', ".");
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i.to_string(), f.to_string()),
            None => (digits.clone(), String::new()),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err("no digits"));
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(err(
                "only digits, one decimal point and an exponent are allowed",
            ));
        }
        let all = format!("{int}{frac}");
        let mut trimmed = all.trim_start_matches('0');
        let mut exponent: i32 = -(frac.len() as i32);
        // Trailing zeros that do not fit the mantissa carry no precision: fold them into the
        // exponent ("24000" keeps its five digits; a 17-digit integer ending in 0 does not).
        let too_big = |t: &str| t.len() > 16 || t.parse::<i64>().map_or(true, |v| v > MAX_MANTISSA);
        while !trimmed.is_empty() && too_big(trimmed) && trimmed.ends_with('0') {
            trimmed = &trimmed[..trimmed.len() - 1];
            exponent += 1;
        }
        if trimmed.len() > 16 {
            return Err(err("too many digits"));
        }
        let mut mantissa: i64 = if trimmed.is_empty() {
            0
        } else {
            trimmed.parse().map_err(|_| err("too many digits"))?
        };
        if mantissa > MAX_MANTISSA {
            return Err(err("too many digits"));
        }
        if negative {
            mantissa = -mantissa;
        }
        if let Some(e) = exp_part {
            let e: i32 = e.parse().map_err(|_| err("bad exponent"))?;
            exponent += e;
        }
        let exponent = i8::try_from(exponent).map_err(|_| err("exponent out of range"))?;
        Ok(Self::new(mantissa, exponent))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if neg { "-" } else { "" };
        if self.exponent >= 0 {
            let zeros = "0".repeat(self.exponent as usize);
            return write!(f, "{sign}{digits}{zeros}");
        }
        let places = usize::from(self.exponent.unsigned_abs());
        let padded = if digits.len() <= places {
            format!("{}{digits}", "0".repeat(places - digits.len() + 1))
        } else {
            digits
        };
        let (int, frac) = padded.split_at(padded.len() - places);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_keeps_the_precision_as_typed() {
        let d: Decimal = "36.50".parse().unwrap();
        assert_eq!(d, Decimal::new(3650, -2));
        assert_eq!(d.to_string(), "36.50");
        assert_eq!(d.decimals(), 2);
        assert_eq!("4,7".parse::<Decimal>().unwrap(), Decimal::new(47, -1));
        assert_eq!("-0.05".parse::<Decimal>().unwrap().to_string(), "-0.05");
        assert_eq!(".5".parse::<Decimal>().unwrap().to_string(), "0.5");
        assert_eq!("1.5e3".parse::<Decimal>().unwrap().to_f64(), 1500.0);
        assert_eq!("24000".parse::<Decimal>().unwrap(), Decimal::integer(24000));
        assert_eq!(Decimal::new(12, 2).to_string(), "1200");
    }

    #[test]
    fn rubbish_is_refused_with_a_reason() {
        for bad in [
            "",
            "abc",
            "1.2.3",
            "--1",
            "1e",
            "NaN",
            "inf",
            "12345678901234567890",
            "1e999",
        ] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_round_trips_for_any_decimal() {
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let m = ((x >> 11) as i64 % MAX_MANTISSA) * if x & 1 == 0 { 1 } else { -1 };
            let e = ((x >> 3) % 25) as i8 - 12;
            let d = Decimal::new(m, e);
            let back: Decimal = d.to_string().parse().unwrap();
            assert_eq!(back.to_f64(), d.to_f64(), "{d:?} -> {d} -> {back:?}");
            assert!(d.to_f64().is_finite());
        }
    }

    #[test]
    fn from_f64_rounds_and_refuses_non_finite() {
        assert_eq!(Decimal::from_f64(288.64, 1), Some(Decimal::new(2886, -1)));
        assert_eq!(Decimal::from_f64(f64::NAN, 1), None);
        assert_eq!(Decimal::from_f64(f64::INFINITY, 0), None);
    }
}
