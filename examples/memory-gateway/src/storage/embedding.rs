//! A small deterministic text embedding: hashed character trigrams and words.
//!
//! No model to download, the same vector for the same text on every machine, and texts that
//! share words or word pieces ("coffee", "café") land close under cosine similarity: enough for
//! recall to rank what was stored.

/// Dimensions of every embedding.
pub const DIMENSIONS: usize = 256;

/// Function words: shared by unrelated texts, so they would only add noise to similarity.
const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "for", "from", "had", "has", "have",
    "he", "her", "his", "i", "in", "into", "is", "it", "its", "of", "on", "or", "our", "she",
    "that", "the", "their", "they", "this", "to", "was", "we", "were", "with", "you",
];

/// A unit-length vector (or all zeros, for a text with no letters or digits).
pub type Embedding = Vec<f32>;

/// Embeds `text`: each lower-cased word and each of its character trigrams (with the word's
/// boundaries marked) is hashed into one of [`DIMENSIONS`] buckets with a hashed sign, which
/// keeps collisions from piling up in one direction; the sum is normalised to unit length.
#[must_use]
pub fn embed(text: &str) -> Embedding {
    let mut vector = vec![0.0_f32; DIMENSIONS];
    let lowered = text.to_lowercase();
    for word in lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !STOPWORDS.contains(word))
    {
        // Whole words weigh more than any one of their trigrams.
        add_feature(&mut vector, word.as_bytes(), 2.0);
        let marked: Vec<char> = std::iter::once('^')
            .chain(word.chars())
            .chain(std::iter::once('$'))
            .collect();
        for trigram in marked.windows(3) {
            let mut bytes = [0_u8; 12];
            let mut length = 0;
            for c in trigram {
                length += c.encode_utf8(&mut bytes[length..]).len();
            }
            add_feature(&mut vector, &bytes[..length], 1.0);
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut vector {
            *x /= norm;
        }
    }
    vector
}

/// Cosine similarity in `[-1, 1]`; 0 when either vector is all zeros.
#[must_use]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms =
        a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norms > 0.0 { dot / norms } else { 0.0 }
}

fn add_feature(vector: &mut [f32], feature: &[u8], weight: f32) {
    let hash = fnv1a(feature);
    // DIMENSIONS is a power of two, so the low bits pick the bucket; the top bit, the sign.
    let bucket = usize::try_from(hash % DIMENSIONS as u64).unwrap_or(0);
    let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
    vector[bucket] += sign * weight;
}

/// FNV-1a, 64-bit: stable across runs and platforms, unlike `std`'s randomly keyed hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::{DIMENSIONS, cosine, embed};

    #[test]
    fn is_deterministic_and_unit_length() {
        let a = embed("Coffee with Ana at the Blue Door café");
        assert_eq!(a, embed("Coffee with Ana at the Blue Door café"));
        assert_eq!(a.len(), DIMENSIONS);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(embed("  ... !!").iter().all(|x| *x == 0.0));
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &embed("")).abs() < f32::EPSILON);
    }

    #[test]
    fn related_texts_are_closer_than_unrelated_ones() {
        let query = embed("coffee with Ana");
        let related = embed("Had coffee with Ana at the Blue Door café");
        let unrelated = embed("Reviewed the quarterly budget with finance");
        assert!(
            cosine(&query, &related) > 0.4,
            "{}",
            cosine(&query, &related)
        );
        assert!(cosine(&query, &related) > cosine(&query, &unrelated) + 0.2);
        // Function words do not make texts similar.
        assert!(cosine(&embed("with the"), &embed("the with")).abs() < f32::EPSILON);
        // Case and punctuation do not matter.
        assert!((cosine(&embed("COFFEE!"), &embed("coffee")) - 1.0).abs() < 1e-5);
    }
}
