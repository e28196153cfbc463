//! Property tests of every decoder: number encodings round-trip, and no byte string makes any
//! decoder panic (they return a value or a `DecodeError`). Run with the unit tests.

use proptest::prelude::*;

use super::cdi::CdiStream;
use super::gatt::{characteristic, Decoder};
use super::ieee11073::{self, float, sfloat, MedFloat};
use super::{profiles, telemetry_profile};
use crate::domain::Decimal;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sfloat_round_trips(mantissa in -2045i64..=2045, exponent in -8i8..=7) {
        let d = Decimal::new(mantissa, exponent);
        let bits = ieee11073::sfloat_bits(d).expect("in range");
        prop_assert_eq!(sfloat(bits), MedFloat::Number(d));
    }

    #[test]
    fn sfloat_never_encodes_a_number_as_a_special_value(mantissa in -2048i64..=-2046, exponent in -8i8..=7) {
        // -2046 would be the bits of -INF: the encoder must refuse, not send a different value.
        prop_assert_eq!(ieee11073::sfloat_bits(Decimal::new(mantissa, exponent)), None);
    }

    #[test]
    fn float_round_trips(mantissa in -0x7F_FFFDi64..=0x7F_FFFD, exponent in any::<i8>()) {
        let d = Decimal::new(mantissa, exponent);
        let bytes = telemetry_profile::float_bytes(d).expect("in range");
        prop_assert_eq!(float(u32::from_le_bytes(bytes)), MedFloat::Number(d));
    }

    #[test]
    fn sig_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = profiles::temperature_measurement(&bytes);
        let _ = profiles::blood_pressure(&bytes, false);
        let _ = profiles::blood_pressure(&bytes, true);
        let _ = profiles::plx_spot_check(&bytes);
        let _ = profiles::plx_continuous(&bytes);
        let _ = profiles::plx_features(&bytes);
        let _ = profiles::glucose_measurement(&bytes);
        let _ = profiles::racp_response(&bytes);
        let _ = profiles::weight_measurement(&bytes);
        let _ = profiles::dis_string("any", &bytes);
        let _ = profiles::pnp_id(&bytes);
        let _ = profiles::system_id(&bytes);
        let _ = profiles::battery_level(&bytes);
        let _ = profiles::current_time(&bytes);
        let _ = ieee11073::date_time("any", &bytes);
    }

    #[test]
    fn telemetry_profile_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = telemetry_profile::decode(&bytes);
    }

    #[test]
    fn cdi_stream_never_panics_on_any_chunks(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..40)
    ) {
        let mut s = CdiStream::default();
        for c in &chunks {
            let _ = s.push(c);
        }
    }

    #[test]
    fn the_connection_decoder_never_panics(
        which in 0usize..characteristic::MEASUREMENTS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut d = Decoder::default();
        let _ = d.decode(characteristic::MEASUREMENTS[which], &bytes);
    }
}
