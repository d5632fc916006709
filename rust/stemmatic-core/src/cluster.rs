//! From verified near-duplicate edges to decisions: which row of each
//! cluster is kept, which rows go and whom they duplicate; and the
//! giant-component guard.
//!
//! * [`Clustering::Components`]: connected components of the edges (union-find,
//!   [`crate::lsh::connected_components`]), one kept row per component. Edges
//!   chain: a removed row may be far below the threshold to its kept row.
//! * [`Clustering::Star`]: greedy centers in keep-priority order over the
//!   edges, the deterministic pivot of KwikCluster (Ailon, Charikar & Newman,
//!   "Aggregating inconsistent information: ranking and clustering", JACM
//!   2008). A row becomes a center unless an edge joins it to a center of
//!   higher priority; otherwise it is removed as the duplicate of its most
//!   similar such center. So every removed row has an edge (a verified
//!   similarity at or above the threshold) to its kept row. Because LSH
//!   verifies only candidate pairs (a large bucket gives a star, not a
//!   clique), the decision also lists the pairs a center should still be
//!   compared with ([`Decision::to_verify`]: a center and the center that
//!   claimed one of its neighbours); the caller verifies them, adds those at
//!   or above the threshold as edges and decides again.
//! * [`split_giant_components`]: components above a size cap are rebuilt
//!   from their own edges in descending similarity (Kruskal-style), an edge
//!   accepted only while the two sub-clusters it joins fit the cap together.
//!
//! Every result is a pure function of the inputs (not of the edge order for
//! star, not of any thread count).

use std::cmp::Ordering;

use crate::error::{CoreError, Result};
use crate::lsh::connected_components;

/// How rows joined by edges are grouped before one row per group is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clustering {
    /// Connected components (chaining allowed).
    Components,
    /// Greedy centers in keep-priority order; every removed row has an edge to its kept row.
    Star,
}

impl std::str::FromStr for Clustering {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "components" => Ok(Self::Components),
            "star" => Ok(Self::Star),
            other => Err(CoreError::param(
                "clustering",
                format!("{other:?}; expected components or star"),
            )),
        }
    }
}

/// The edges between rows and what is known of each.
#[derive(Debug, Clone, Copy)]
pub struct Edges<'a> {
    /// Row pairs.
    pub pairs: &'a [(u64, u64)],
    /// Similarity of each pair.
    pub similarity: &'a [f64],
    /// Why each pair is an edge (0 near duplicate, 1 exact duplicate, ...).
    pub reason: &'a [u8],
}

/// Per-row decisions over `num_nodes` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// True for rows removed as duplicates.
    pub removed: Vec<bool>,
    /// The kept row a removed row duplicates (-1 for rows not removed).
    pub duplicate_of: Vec<i64>,
    /// The cluster's smallest row, for rows in a cluster of two or more (else -1).
    pub cluster_id: Vec<i64>,
    /// Components: the best edge incident to the row. Star: for a removed
    /// row, the edge to its kept row; for the others, the best incident edge.
    /// NaN for rows without edges.
    pub similarity: Vec<f64>,
    /// The reason of that edge.
    pub reason: Vec<u8>,
    /// Rows in the row's cluster (1 for rows in none).
    pub cluster_size: Vec<i64>,
    /// Star: pairs `(a, b)`, `a < b`, sorted, of two centers that an edge of
    /// a common neighbour joins, listed neither in the edges nor in
    /// `checked`. Empty for components.
    pub to_verify: Vec<(u64, u64)>,
}

impl Decision {
    /// Every row kept and in no cluster, with its best-edge similarity and reason.
    fn unclustered(num_nodes: usize, similarity: Vec<f64>, reason: Vec<u8>) -> Self {
        Self {
            removed: vec![false; num_nodes],
            duplicate_of: vec![-1; num_nodes],
            cluster_id: vec![-1; num_nodes],
            similarity,
            reason,
            cluster_size: vec![1; num_nodes],
            to_verify: Vec::new(),
        }
    }
}

/// `x` before `y` in numpy's ascending float order: NaN last, -0.0 == 0.0.
fn ascending(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// A key whose ascending order is `x` descending, NaN last and -0.0 == 0.0 (as [`ascending`] of `-x`).
fn descending_key(x: f64) -> u64 {
    if x.is_nan() {
        return u64::MAX;
    }
    let negated = if x == 0.0 { 0.0 } else { -x };
    let bits = negated.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Keep priority: `a` before `b` when its score is higher (NaN lowest), then when its row is smaller.
fn priority(score: Option<&[f64]>, a: usize, b: usize) -> Ordering {
    let by_score = match score {
        Some(score) => ascending(-score[a], -score[b]),
        None => Ordering::Equal,
    };
    by_score.then(a.cmp(&b))
}

fn check(num_nodes: usize, edges: &Edges<'_>, score: Option<&[f64]>) -> Result<()> {
    let m = edges.pairs.len();
    if edges.similarity.len() != m || edges.reason.len() != m {
        return Err(CoreError::param(
            "edges",
            format!(
                "{m} edges but {} similarities and {} reasons",
                edges.similarity.len(),
                edges.reason.len()
            ),
        ));
    }
    if let Some(score) = score
        && score.len() != num_nodes
    {
        return Err(CoreError::param(
            "keep_score",
            format!("{} scores for {num_nodes} rows", score.len()),
        ));
    }
    if let Some(&(a, b)) = edges
        .pairs
        .iter()
        .find(|&&(a, b)| a as usize >= num_nodes || b as usize >= num_nodes)
    {
        return Err(CoreError::param(
            "edges",
            format!("edge ({a}, {b}) names a node >= {num_nodes}"),
        ));
    }
    Ok(())
}

/// Per row, the similarity and reason of its best incident edge: a pass over
/// the edges' first ends, then one over their second ends; within a pass the
/// highest similarity wins (the later edge among equal ones), and the second
/// pass replaces the first only with a higher similarity (the rule of the
/// vectorised code this replaces, kept so that outputs stay byte-identical).
fn best_edges(num_nodes: usize, edges: &Edges<'_>) -> (Vec<f64>, Vec<u8>) {
    let mut best = vec![f64::NAN; num_nodes];
    let mut why = vec![0u8; num_nodes];
    let mut winner = vec![usize::MAX; num_nodes];
    for side in 0..2 {
        winner.fill(usize::MAX);
        for (e, &(a, b)) in edges.pairs.iter().enumerate() {
            let node = if side == 0 { a } else { b } as usize;
            let sim = edges.similarity[e];
            if best[node] >= sim {
                continue;
            }
            let current = winner[node];
            if current == usize::MAX || ascending(sim, edges.similarity[current]) != Ordering::Less
            {
                winner[node] = e;
            }
        }
        for (node, &e) in winner.iter().enumerate() {
            if e != usize::MAX {
                best[node] = edges.similarity[e];
                why[node] = edges.reason[e];
            }
        }
    }
    (best, why)
}

/// Decide which rows to keep and remove (see the module docs).
///
/// `score` ranks rows for keeping (higher first, NaN last, then the smaller
/// row); `None` = all equal. `checked`: pairs already verified and found
/// below the threshold, so star does not ask for them again.
///
/// # Errors
/// Lengths disagree, or an edge names a node `>= num_nodes`.
pub fn decide(
    num_nodes: usize,
    edges: &Edges<'_>,
    score: Option<&[f64]>,
    clustering: Clustering,
    checked: &[(u64, u64)],
) -> Result<Decision> {
    check(num_nodes, edges, score)?;
    let (similarity, reason) = best_edges(num_nodes, edges);
    match clustering {
        Clustering::Components => components(num_nodes, edges, score, similarity, reason),
        Clustering::Star => Ok(star(num_nodes, edges, score, similarity, reason, checked)),
    }
}

fn components(
    num_nodes: usize,
    edges: &Edges<'_>,
    score: Option<&[f64]>,
    similarity: Vec<f64>,
    reason: Vec<u8>,
) -> Result<Decision> {
    let labels = connected_components(num_nodes, edges.pairs)?;
    let mut sizes = vec![0i64; num_nodes];
    for &label in &labels {
        sizes[label as usize] += 1;
    }
    // Rows ascend, so among rows of equal priority the smallest is kept.
    let mut kept = vec![usize::MAX; num_nodes];
    for (row, &label) in labels.iter().enumerate() {
        let label = label as usize;
        if sizes[label] >= 2
            && (kept[label] == usize::MAX || priority(score, row, kept[label]) == Ordering::Less)
        {
            kept[label] = row;
        }
    }
    let mut decision = Decision::unclustered(num_nodes, similarity, reason);
    for (row, &label) in labels.iter().enumerate() {
        let label = label as usize;
        decision.cluster_size[row] = sizes[label];
        if sizes[label] >= 2 {
            decision.cluster_id[row] = label as i64;
            if kept[label] != row {
                decision.removed[row] = true;
                decision.duplicate_of[row] = kept[label] as i64;
            }
        }
    }
    Ok(decision)
}

/// Adjacency lists of `edges` (self-loops left out) in compressed form:
/// node `v`'s incident edges are `edge_of[start[v]..start[v + 1]]`.
struct Adjacency {
    start: Vec<usize>,
    neighbour: Vec<u64>,
    edge_of: Vec<usize>,
}

impl Adjacency {
    fn new(num_nodes: usize, pairs: &[(u64, u64)]) -> Self {
        let mut start = vec![0usize; num_nodes + 1];
        for &(a, b) in pairs {
            if a != b {
                start[a as usize + 1] += 1;
                start[b as usize + 1] += 1;
            }
        }
        for v in 0..num_nodes {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut neighbour = vec![0u64; start[num_nodes]];
        let mut edge_of = vec![0usize; start[num_nodes]];
        for (e, &(a, b)) in pairs.iter().enumerate() {
            if a != b {
                for (u, v) in [(a, b), (b, a)] {
                    let slot = &mut fill[u as usize];
                    neighbour[*slot] = v;
                    edge_of[*slot] = e;
                    *slot += 1;
                }
            }
        }
        Self {
            start,
            neighbour,
            edge_of,
        }
    }

    fn of(&self, v: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let range = self.start[v]..self.start[v + 1];
        self.neighbour[range.clone()]
            .iter()
            .zip(&self.edge_of[range])
            .map(|(&u, &e)| (u as usize, e))
    }

    fn degree(&self, v: usize) -> usize {
        self.start[v + 1] - self.start[v]
    }
}

const NO_CENTER: usize = usize::MAX;

fn star(
    num_nodes: usize,
    edges: &Edges<'_>,
    score: Option<&[f64]>,
    mut similarity: Vec<f64>,
    mut reason: Vec<u8>,
    checked: &[(u64, u64)],
) -> Decision {
    let adjacency = Adjacency::new(num_nodes, edges.pairs);
    let mut order: Vec<usize> = (0..num_nodes)
        .filter(|&v| adjacency.degree(v) > 0)
        .collect();
    order.sort_unstable_by(|&a, &b| priority(score, a, b));
    let mut rank = vec![usize::MAX; num_nodes];
    for (position, &v) in order.iter().enumerate() {
        rank[v] = position;
    }
    // Centers, in priority order: a row is one unless a center before it is its neighbour.
    let mut is_center = vec![false; num_nodes];
    for &v in &order {
        is_center[v] = !adjacency.of(v).any(|(u, _)| is_center[u]);
    }
    // Each other row goes to its most similar center of higher priority
    // (then the higher priority, then an exact edge over a near one).
    let mut center_of = vec![NO_CENTER; num_nodes];
    let mut size = vec![1i64; num_nodes];
    let mut smallest: Vec<usize> = (0..num_nodes).collect();
    for &v in &order {
        if is_center[v] {
            center_of[v] = v;
            continue;
        }
        let mut best: Option<(usize, usize)> = None;
        for (u, e) in adjacency.of(v) {
            if !is_center[u] || rank[u] > rank[v] {
                continue;
            }
            let better = match best {
                None => true,
                Some((c, f)) => {
                    ascending(edges.similarity[e], edges.similarity[f])
                        .then(rank[c].cmp(&rank[u]))
                        .then(edges.reason[e].cmp(&edges.reason[f]))
                        == Ordering::Greater
                }
            };
            if better {
                best = Some((u, e));
            }
        }
        // A center of higher priority is a neighbour: that is why `v` is not a center.
        if let Some((c, e)) = best {
            center_of[v] = c;
            similarity[v] = edges.similarity[e];
            reason[v] = edges.reason[e];
            size[c] += 1;
            smallest[c] = smallest[c].min(v);
        }
    }
    let mut decision = Decision::unclustered(num_nodes, similarity, reason);
    for (v, &c) in center_of.iter().enumerate() {
        if c == NO_CENTER || size[c] < 2 {
            continue;
        }
        decision.cluster_id[v] = smallest[c] as i64;
        decision.cluster_size[v] = size[c];
        if c != v {
            decision.removed[v] = true;
            decision.duplicate_of[v] = c as i64;
        }
    }
    decision.to_verify =
        pairs_to_verify(&adjacency, &order, &is_center, &center_of, edges, checked);
    decision
}

/// Two centers that share a neighbour, one of them the center that claimed
/// it: the comparisons that would let one of them join the other.
fn pairs_to_verify(
    adjacency: &Adjacency,
    order: &[usize],
    is_center: &[bool],
    center_of: &[usize],
    edges: &Edges<'_>,
    checked: &[(u64, u64)],
) -> Vec<(u64, u64)> {
    let mut pairs = Vec::new();
    for &h in order {
        if is_center[h] {
            continue;
        }
        let claimer = center_of[h];
        for (u, _) in adjacency.of(h) {
            if is_center[u] && u != claimer {
                let (a, b) = (u.min(claimer) as u64, u.max(claimer) as u64);
                pairs.push((a, b));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    if pairs.is_empty() {
        return pairs;
    }
    let mut known: Vec<(u64, u64)> = edges
        .pairs
        .iter()
        .chain(checked)
        .map(|&(a, b)| (a.min(b), a.max(b)))
        .collect();
    known.sort_unstable();
    known.dedup();
    pairs.retain(|pair| known.binary_search(pair).is_err());
    pairs
}

/// A component above the cap and the sizes it was split into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitComponent {
    /// The component's smallest row.
    pub label: u64,
    /// Rows in the component.
    pub size: usize,
    /// Sizes of the clusters it was split into, largest first (singletons included).
    pub parts: Vec<usize>,
}

/// What the giant-component guard keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSplit {
    /// Per edge: true = keep.
    pub keep: Vec<bool>,
    /// The components above the cap, by label.
    pub split: Vec<SplitComponent>,
}

/// Keep the edges of components of at most `max_size` rows; split larger ones (module docs).
///
/// Within a component, edges are taken by descending similarity (NaN last),
/// then by the smaller pair; an edge inside one sub-cluster is kept, one
/// joining two sub-clusters is kept only if they fit `max_size` together.
/// Costs O(m log m) whatever `num_nodes` is.
///
/// # Errors
/// `max_size < 2`, lengths disagree, or an edge names a row `>= num_nodes`.
pub fn split_giant_components(
    num_nodes: usize,
    pairs: &[(u64, u64)],
    similarity: &[f64],
    max_size: usize,
) -> Result<GuardSplit> {
    if max_size < 2 {
        return Err(CoreError::param(
            "max_cluster_size",
            format!("{max_size}; must be at least 2"),
        ));
    }
    if similarity.len() != pairs.len() {
        return Err(CoreError::param(
            "edges",
            format!(
                "{} edges but {} similarities",
                pairs.len(),
                similarity.len()
            ),
        ));
    }
    let mut keep = vec![true; pairs.len()];
    if pairs.is_empty() {
        return Ok(GuardSplit {
            keep,
            split: Vec::new(),
        });
    }
    let last = pairs.iter().map(|&(a, b)| a.max(b)).max().unwrap_or(0);
    if last as usize >= num_nodes {
        return Err(CoreError::param(
            "edges",
            format!("edge names row {last}, but there are {num_nodes} rows"),
        ));
    }
    let (nodes, dense) = renumber(num_nodes, pairs);
    let labels = connected_components(nodes.len(), &dense)?;
    let mut sizes = vec![0usize; nodes.len()];
    for &label in &labels {
        sizes[label as usize] += 1;
    }
    // Edges of giant components by (component, similarity descending with
    // NaN last, pair, position): one flat key per edge sorts fast.
    let mut giant_edges: Vec<(u64, u64, (u64, u64), usize)> = (0..pairs.len())
        .filter(|&e| sizes[labels[dense[e].0 as usize] as usize] > max_size)
        .map(|e| {
            (
                labels[dense[e].0 as usize],
                descending_key(similarity[e]),
                dense[e],
                e,
            )
        })
        .collect();
    if giant_edges.is_empty() {
        return Ok(GuardSplit {
            keep,
            split: Vec::new(),
        });
    }
    giant_edges.sort_unstable();
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    let mut part_size = vec![1usize; nodes.len()];
    for &(_, _, _, e) in &giant_edges {
        let (ra, rb) = (
            find(&mut parent, dense[e].0 as usize),
            find(&mut parent, dense[e].1 as usize),
        );
        if ra == rb {
            continue;
        }
        if part_size[ra] + part_size[rb] > max_size {
            keep[e] = false;
            continue;
        }
        let (big, small) = if part_size[ra] < part_size[rb] {
            (rb, ra)
        } else {
            (ra, rb)
        };
        parent[small] = big;
        part_size[big] += part_size[small];
    }
    let split = split_parts(&nodes, &labels, &sizes, max_size, &mut parent);
    Ok(GuardSplit { keep, split })
}

/// The rows with edges in ascending order, and the edges over their positions
/// in it (so a component's smallest position is its smallest row). A table
/// over all rows where they are few next to the edges, else a sort.
fn renumber(num_nodes: usize, pairs: &[(u64, u64)]) -> (Vec<u64>, Vec<(u64, u64)>) {
    if num_nodes <= 4 * pairs.len() {
        let mut position = vec![u64::MAX; num_nodes];
        for &(a, b) in pairs {
            position[a as usize] = 0;
            position[b as usize] = 0;
        }
        let mut nodes = Vec::new();
        for (row, slot) in position.iter_mut().enumerate() {
            if *slot == 0 {
                *slot = nodes.len() as u64;
                nodes.push(row as u64);
            }
        }
        let dense = pairs
            .iter()
            .map(|&(a, b)| (position[a as usize], position[b as usize]))
            .collect();
        return (nodes, dense);
    }
    let mut nodes: Vec<u64> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let dense_of = |row: u64| nodes.partition_point(|&x| x < row) as u64;
    let dense = pairs
        .iter()
        .map(|&(a, b)| (dense_of(a), dense_of(b)))
        .collect();
    (nodes, dense)
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Per giant component (by label): its size and the sizes of its members' final roots.
fn split_parts(
    nodes: &[u64],
    labels: &[u64],
    sizes: &[usize],
    max_size: usize,
    parent: &mut [usize],
) -> Vec<SplitComponent> {
    let mut split = Vec::new();
    let mut members_of: Vec<Vec<usize>> = Vec::new();
    let mut slot_of_label = vec![usize::MAX; nodes.len()];
    for (node, &label) in labels.iter().enumerate() {
        let label = label as usize;
        if sizes[label] > max_size {
            if slot_of_label[label] == usize::MAX {
                slot_of_label[label] = members_of.len();
                members_of.push(Vec::new());
            }
            members_of[slot_of_label[label]].push(node);
        }
    }
    for members in members_of {
        let mut roots: Vec<usize> = members.iter().map(|&m| find(parent, m)).collect();
        roots.sort_unstable();
        let mut parts: Vec<usize> = roots.chunk_by(|a, b| a == b).map(<[usize]>::len).collect();
        parts.sort_unstable_by(|a, b| b.cmp(a));
        split.push(SplitComponent {
            label: nodes[members[0]],
            size: members.len(),
            parts,
        });
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decide_all(
        n: usize,
        pairs: &[(u64, u64)],
        sims: &[f64],
        score: Option<&[f64]>,
        clustering: Clustering,
    ) -> Decision {
        let reason = vec![0u8; pairs.len()];
        let edges = Edges {
            pairs,
            similarity: sims,
            reason: &reason,
        };
        decide(n, &edges, score, clustering, &[]).unwrap()
    }

    #[test]
    fn components_keep_the_first_row_and_chain() {
        let d = decide_all(
            4,
            &[(0, 2), (2, 3)],
            &[0.9, 0.85],
            None,
            Clustering::Components,
        );
        assert_eq!(d.removed, [false, false, true, true]);
        assert_eq!(d.duplicate_of, [-1, -1, 0, 0]);
        assert_eq!(d.cluster_id, [0, -1, 0, 0]);
        assert_eq!(d.cluster_size, [3, 1, 3, 3]);
    }

    #[test]
    fn star_never_removes_a_row_without_an_edge_to_its_kept_row() {
        // A chain 0-1-2-3: components remove 1, 2, 3 into 0; star keeps 2.
        let d = decide_all(
            4,
            &[(0, 1), (1, 2), (2, 3)],
            &[0.9, 0.9, 0.9],
            None,
            Clustering::Star,
        );
        assert_eq!(d.removed, [false, true, false, true]);
        assert_eq!(d.duplicate_of, [-1, 0, -1, 2]);
        assert_eq!(d.cluster_id, [0, 0, 2, 2]);
        assert_eq!(d.cluster_size, [2, 2, 2, 2]);
        // 2 and 0 are both centers next to 1 (claimed by 0): worth a comparison.
        assert_eq!(d.to_verify, [(0, 2)]);
    }

    #[test]
    fn star_prefers_the_kept_row_by_score_and_asks_for_the_hub_pairs() {
        // A large LSH bucket gives a star from row 0, but row 3 has the highest score.
        let pairs = [(0, 1), (0, 2), (0, 3)];
        let score = [1.0, 1.0, 1.0, 5.0];
        let d = decide_all(4, &pairs, &[0.9; 3], Some(&score), Clustering::Star);
        assert_eq!(d.removed, [true, false, false, false]);
        assert_eq!(d.duplicate_of[0], 3);
        assert_eq!(d.to_verify, [(1, 3), (2, 3)]);
        let reason = [0u8; 3];
        let edges = Edges {
            pairs: &pairs,
            similarity: &[0.9; 3],
            reason: &reason,
        };
        let d = decide(4, &edges, Some(&score), Clustering::Star, &[(1, 3), (3, 2)]).unwrap();
        assert!(d.to_verify.is_empty());
    }

    #[test]
    fn errors_name_the_problem() {
        let reason = [0u8];
        let edges = Edges {
            pairs: &[(0, 5)],
            similarity: &[0.9],
            reason: &reason,
        };
        assert!(decide(3, &edges, None, Clustering::Star, &[]).is_err());
        let edges = Edges {
            pairs: &[(0, 1)],
            similarity: &[],
            reason: &reason,
        };
        assert!(decide(3, &edges, None, Clustering::Components, &[]).is_err());
        assert!(
            decide(
                3,
                &Edges {
                    pairs: &[],
                    similarity: &[],
                    reason: &[]
                },
                Some(&[1.0]),
                Clustering::Star,
                &[]
            )
            .is_err()
        );
        assert!("stars".parse::<Clustering>().is_err());
        assert!(split_giant_components(3, &[(0, 1)], &[0.9], 1).is_err());
        assert!(split_giant_components(3, &[(0, 3)], &[0.9], 2).is_err());
    }

    #[test]
    fn descending_keys_order_like_the_comparison() {
        let values = [
            f64::NAN,
            f64::INFINITY,
            1.0,
            0.5,
            0.0,
            -0.0,
            -0.5,
            f64::NEG_INFINITY,
        ];
        for &x in &values {
            for &y in &values {
                assert_eq!(
                    descending_key(x).cmp(&descending_key(y)),
                    ascending(-x, -y),
                    "{x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn guard_splits_a_chain_at_its_weakest_links() {
        let chain = [(0, 1), (1, 2), (2, 3), (3, 4)];
        let result = split_giant_components(5, &chain, &[0.9, 0.95, 0.8, 0.99], 2).unwrap();
        assert_eq!(result.keep, [false, true, false, true]);
        assert_eq!(
            result.split,
            [SplitComponent {
                label: 0,
                size: 5,
                parts: vec![2, 2, 1]
            }]
        );
    }

    fn root(parent: &mut [usize], x: usize) -> usize {
        if parent[x] == x {
            x
        } else {
            let r = root(parent, parent[x]);
            parent[x] = r;
            r
        }
    }

    /// Pivot clustering by brute force over an adjacency matrix.
    fn reference_star(n: usize, pairs: &[(u64, u64)], score: &[f64]) -> Vec<bool> {
        let mut adjacent = vec![vec![false; n]; n];
        for &(a, b) in pairs {
            if a != b {
                adjacent[a as usize][b as usize] = true;
                adjacent[b as usize][a as usize] = true;
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| score[b].partial_cmp(&score[a]).unwrap().then(a.cmp(&b)));
        let mut center = vec![false; n];
        let mut removed = vec![false; n];
        for &v in &order {
            if (0..n).any(|u| adjacent[v][u] && center[u]) {
                removed[v] = true;
            } else {
                center[v] = true;
            }
        }
        removed
    }

    /// Rows, edges, edge similarities (60, the first `edges.len()` used) and keep scores.
    type Graph = (usize, Vec<(u64, u64)>, Vec<f64>, Vec<f64>);

    fn graph() -> impl Strategy<Value = Graph> {
        (2usize..30).prop_flat_map(|n| {
            let edge = (0..n as u64, 0..n as u64);
            (
                Just(n),
                proptest::collection::vec(edge, 0..60),
                proptest::collection::vec(0.5f64..1.0, 60),
                proptest::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0f64..3.0], n),
            )
        })
    }

    proptest! {
        /// Every removed row has an edge to its kept row, kept rows are
        /// never removed, and the removed rows are the pivot reference's.
        #[test]
        fn star_guarantee_and_reference((n, pairs, sims, score) in graph()) {
            let sims = &sims[..pairs.len()];
            let d = decide_all(n, &pairs, sims, Some(&score), Clustering::Star);
            prop_assert_eq!(&d.removed, &reference_star(n, &pairs, &score));
            for v in 0..n {
                if d.removed[v] {
                    let c = d.duplicate_of[v];
                    prop_assert!(c >= 0 && !d.removed[c as usize]);
                    let edge = pairs.iter().zip(sims).find(|&(&(a, b), &s)| {
                        ((a as i64, b as i64) == (v as i64, c) || (b as i64, a as i64) == (v as i64, c))
                            && s.to_bits() == d.similarity[v].to_bits()
                    });
                    prop_assert!(edge.is_some(), "row {} removed into {} without an edge", v, c);
                    prop_assert_eq!(d.cluster_id[v], d.cluster_id[c as usize]);
                } else {
                    prop_assert_eq!(d.duplicate_of[v], -1);
                }
            }
        }

        /// The same graph with its edges in another order and flipped gives the same star decision.
        #[test]
        fn star_is_independent_of_edge_order((n, pairs, sims, score) in graph()) {
            let sims = &sims[..pairs.len()];
            let d = decide_all(n, &pairs, sims, Some(&score), Clustering::Star);
            let flipped: Vec<(u64, u64)> = pairs.iter().rev().map(|&(a, b)| (b, a)).collect();
            let rev_sims: Vec<f64> = sims.iter().rev().copied().collect();
            let e = decide_all(n, &flipped, &rev_sims, Some(&score), Clustering::Star);
            prop_assert_eq!(&d.removed, &e.removed);
            prop_assert_eq!(&d.duplicate_of, &e.duplicate_of);
            prop_assert_eq!(&d.cluster_id, &e.cluster_id);
            prop_assert_eq!(&d.to_verify, &e.to_verify);
        }

        /// Components are those of a simple union-find, with the best-scored row kept.
        #[test]
        fn components_match_union_find((n, pairs, sims, score) in graph()) {
            let sims = &sims[..pairs.len()];
            let d = decide_all(n, &pairs, sims, Some(&score), Clustering::Components);
            let mut parent: Vec<usize> = (0..n).collect();
            for &(a, b) in &pairs {
                let (ra, rb) = (root(&mut parent, a as usize), root(&mut parent, b as usize));
                parent[ra.max(rb)] = ra.min(rb);
            }
            for v in 0..n {
                let members: Vec<usize> = (0..n).filter(|&u| root(&mut parent, u) == root(&mut parent, v)).collect();
                let kept = *members.iter().min_by(|&&a, &&b| score[b].partial_cmp(&score[a]).unwrap().then(a.cmp(&b))).unwrap();
                prop_assert_eq!(d.cluster_size[v], members.len() as i64);
                if members.len() >= 2 {
                    prop_assert_eq!(d.cluster_id[v], members[0] as i64);
                    prop_assert_eq!(d.removed[v], v != kept);
                } else {
                    prop_assert!(!d.removed[v] && d.cluster_id[v] == -1);
                }
            }
        }

        /// Star pairs to verify, once verified, let star converge; the guarantee holds throughout.
        #[test]
        fn star_rounds_converge((n, pairs, sims, score) in graph()) {
            let mut pairs = pairs.clone();
            let mut sims: Vec<f64> = sims[..pairs.len()].to_vec();
            let mut checked = Vec::new();
            for _ in 0..(n * n) {
                let reason = vec![0u8; pairs.len()];
                let edges = Edges { pairs: &pairs, similarity: &sims, reason: &reason };
                let d = decide(n, &edges, Some(&score), Clustering::Star, &checked).unwrap();
                if d.to_verify.is_empty() {
                    return Ok(());
                }
                // A deterministic "verification": pairs of rows of equal parity are similar.
                for &(a, b) in &d.to_verify {
                    if (a + b) % 2 == 0 { pairs.push((a, b)); sims.push(0.8); } else { checked.push((a, b)); }
                }
            }
            prop_assert!(false, "star rounds did not converge");
        }

        /// The guard caps every cluster and keeps every edge of small components.
        #[test]
        fn guard_caps_clusters((n, pairs, sims, _score) in graph(), max_size in 2usize..6) {
            let sims = &sims[..pairs.len()];
            let result = split_giant_components(n, &pairs, sims, max_size).unwrap();
            let kept: Vec<(u64, u64)> = pairs.iter().zip(&result.keep).filter(|&(_, &k)| k).map(|(&p, _)| p).collect();
            let labels = connected_components(n, &kept).unwrap();
            let before = connected_components(n, &pairs).unwrap();
            for v in 0..n {
                prop_assert!(labels.iter().filter(|&&l| l == labels[v]).count() <= max_size);
                let size_before = before.iter().filter(|&&l| l == before[v]).count();
                if size_before <= max_size {
                    prop_assert_eq!(labels[v], before[v]);
                }
            }
            let split_rows: usize = result.split.iter().map(|s| s.size).sum();
            prop_assert_eq!(split_rows, (0..n).filter(|&v| before.iter().filter(|&&l| l == before[v]).count() > max_size).count());
        }
    }
}
