//! Vectors kept sorted by a key, where items mostly arrive in order.

/// Inserts `item` into `v`, which is sorted by `key`, after any items with an equal key,
/// and returns where. An item in order is pushed; only an out-of-order one costs a search.
pub fn insert_sorted<T, K: Ord>(v: &mut Vec<T>, item: T, key: impl Fn(&T) -> K) -> usize {
    let k = key(&item);
    match v.last() {
        Some(last) if key(last) > k => {
            let pos = v.partition_point(|e| key(e) <= k);
            v.insert(pos, item);
            pos
        }
        _ => {
            v.push(item);
            v.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_puts_equal_keys_last() {
        let mut v = Vec::new();
        let mut at = vec![];
        for item in [(3, 'a'), (5, 'b'), (1, 'c'), (3, 'd'), (5, 'e'), (4, 'f')] {
            at.push(insert_sorted(&mut v, item, |&(k, _)| k));
        }
        assert_eq!(at, [0, 1, 0, 2, 4, 3]);
        assert_eq!(v, [(1, 'c'), (3, 'a'), (3, 'd'), (4, 'f'), (5, 'b'), (5, 'e')]);
    }
}
