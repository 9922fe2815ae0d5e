//! Hash maps keyed by the service's own values — database ids, type ids — never by what a
//! client chose, hashed with foldhash (already in the tree through hashbrown): several times
//! cheaper than the standard map's SipHash, whose defence against chosen keys such keys do not
//! need. SipHash was 3–4 % of a product page's CPU before these maps moved off it.

use std::collections::HashMap;

/// A hash map of the service's own keys, hashed with foldhash.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
