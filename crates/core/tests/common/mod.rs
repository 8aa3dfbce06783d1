//! What the integration tests of the format share.

#![allow(clippy::expect_used)]

use depositary_core::Treaty;

/// A small treaty with two States, AAA and BBB.
pub fn treaty() -> Treaty {
    serde_json::from_value(serde_json::json!({
        "id": "T-1",
        "title": "Test Treaty",
        "adopted": "2024-01-01",
        "depositary": "Test Depositary",
        "rules": {
            "signature": {"opens": "2024-02-01", "closes": "2024-12-31"},
            "entry_into_force": {"threshold": {"at_least": 3}, "organizations": "not_additional", "takes_effect": {"days": 30}, "later_participants": {"days": 30}},
            "amendments": {"proposal_after": {"years": 1}, "threshold": {"more_than": 2}, "organizations": "not_additional", "takes_effect": {"days": 90}},
            "denunciation": {"takes_effect": {"years": 1}},
            "organizations": {"member_first": true}
        },
        "participants": [
            {"id": "AAA", "name": "A", "kind": "state"},
            {"id": "BBB", "name": "B", "kind": "state"}
        ]
    }))
    .expect("treaty")
}
