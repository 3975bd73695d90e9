//! Property tests: topics, URNs and envelopes survive a round trip.

use proptest::prelude::*;
use switchboard::model::{Topic, Urn, decode, encode, from_urn, to_urn};

use crate::strategies::{envelope, segment, tenant};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn topic_round_trips(ns in segment(), t in tenant(), area in segment(), name in segment()) {
        let topic = Topic::new(&ns, &t, &area, &name).unwrap();
        let parsed = Topic::parse(&topic.to_string()).unwrap();
        prop_assert_eq!(&parsed, &topic);
        prop_assert_eq!(parsed.tenant(), &t);
    }

    #[test]
    fn urn_round_trips(t in tenant(), kind in segment(), id in segment()) {
        let urn = to_urn(&t, &kind, &id).unwrap();
        prop_assert_eq!(from_urn(&urn.to_string()).unwrap(), urn);
    }

    #[test]
    fn any_string_parses_or_errors_without_panicking(s in "\\PC{0,60}") {
        let _ = Topic::parse(&s);
        let _ = Urn::parse(&s);
    }

    #[test]
    fn envelope_messagepack_round_trips(env in envelope()) {
        let bytes = encode(&env).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), env);
    }
}
