/**
 * A decimal digit trie over E.164 prefixes, built once per route table so that route
 * selection is one walk down the destination's digits: no string slicing, no map of
 * substrings, no allocation. Each node carries its answers precomputed:
 * - `operator`: the operator owning the longest operator prefix at or above the node;
 * - `candidates`: every route whose prefix criterion a number reaching this node
 *   satisfies, plus the routes without a prefix criterion, ordered best first
 *   (longest matching prefix, then order in the file).
 */

export interface TrieNode {
  /** Indexed by digit 0–9. */
  readonly children: Array<TrieNode | undefined>;
  /** Operator whose prefix ends exactly here (input while building). */
  ownOperator: string | undefined;
  /** Routes (by index in the file, ascending) with a prefix ending exactly here (input while building). */
  readonly ownRoutes: number[];
  /** Answer: operator of the longest operator prefix at or above this node. */
  operator: string | undefined;
  /** Answer: route indices matching by prefix here, best first; shared with the parent when nothing ends here. */
  candidates: readonly number[];
}

function node(): TrieNode {
  return { children: new Array<TrieNode | undefined>(10).fill(undefined), ownOperator: undefined, ownRoutes: [], operator: undefined, candidates: [] };
}

function insert(root: TrieNode, digits: string): TrieNode {
  let at = root;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    let next = at.children[d];
    if (next === undefined) {
      next = node();
      at.children[d] = next;
    }
    at = next;
  }
  return at;
}

export interface TrieInput {
  /** Operator id → its prefixes (digits only; a prefix belongs to one operator). */
  operators: ReadonlyArray<readonly [string, readonly string[]]>;
  /** Per route in file order: its prefix criterion, or undefined for "any destination". */
  routePrefixes: ReadonlyArray<readonly string[] | undefined>;
}

/** Builds the trie and fills in every node's precomputed answers. */
export function buildTrie(input: TrieInput): TrieNode {
  const root = node();
  for (const [operator, prefixes] of input.operators) {
    for (const p of prefixes) insert(root, p).ownOperator = operator;
  }
  input.routePrefixes.forEach((prefixes, index) => {
    if (prefixes === undefined) root.ownRoutes.push(index);
    else for (const p of prefixes) insert(root, p).ownRoutes.push(index);
  });
  finish(root, undefined, []);
  return root;
}

function finish(at: TrieNode, parentOperator: string | undefined, parentCandidates: readonly number[]): void {
  at.operator = at.ownOperator ?? parentOperator;
  if (at.ownRoutes.length === 0) {
    at.candidates = parentCandidates;
  } else {
    // Routes ending here have a longer prefix than any ancestor's; a route also listed
    // higher up (two nested prefixes of one route) keeps only its longer, better place.
    const own = at.ownRoutes;
    at.candidates = Object.freeze([...own, ...parentCandidates.filter((i) => !own.includes(i))]);
  }
  for (const child of at.children) if (child !== undefined) finish(child, at.operator, at.candidates);
}

/**
 * The deepest node on the path of `e164`'s digits (a leading '+' is skipped; the walk
 * stops at the first non-digit or where the trie ends).
 */
export function deepest(root: TrieNode, e164: string): TrieNode {
  let at = root;
  const n = e164.length;
  for (let i = e164.charCodeAt(0) === 43 /* '+' */ ? 1 : 0; i < n; i++) {
    const d = e164.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    const next = at.children[d];
    if (next === undefined) break;
    at = next;
  }
  return at;
}
