package trainers

import "sort"

// suffixArray sorts the suffixes of s (code points) by prefix doubling. The
// Unigram seed text is a concatenation of distinct words separated by 0, so
// repeats are short and few doubling rounds are needed.
func suffixArray(s []rune) []int {
	n := len(s)
	sa := make([]int, n)
	rank := make([]int, n)
	tmp := make([]int, n)
	for i := range sa {
		sa[i] = i
		rank[i] = int(s[i])
	}
	for k := 1; ; k <<= 1 {
		key2 := func(i int) int {
			if i+k < n {
				return rank[i+k]
			}
			return -1
		}
		sort.Slice(sa, func(a, b int) bool {
			x, y := sa[a], sa[b]
			if rank[x] != rank[y] {
				return rank[x] < rank[y]
			}
			return key2(x) < key2(y)
		})
		if n == 0 {
			return sa
		}
		tmp[sa[0]] = 0
		for i := 1; i < n; i++ {
			tmp[sa[i]] = tmp[sa[i-1]]
			if rank[sa[i-1]] != rank[sa[i]] || key2(sa[i-1]) != key2(sa[i]) {
				tmp[sa[i]]++
			}
		}
		copy(rank, tmp)
		if rank[sa[n-1]] == n-1 {
			return sa
		}
	}
}

// suffixNode is an internal node of the suffix tree: the substring
// s[sa[left] : sa[left]+depth] occurs right-left times.
type suffixNode struct{ left, right, depth int }

// suffixTreeNodes enumerates the internal nodes of the suffix tree from the
// suffix array and the LCP array, as esaxx's suffixtree() (which HF's
// Unigram trainer uses for its seed pieces) does.
func suffixTreeNodes(s []rune, sa []int) []suffixNode {
	n := len(s)
	if n == 0 {
		return nil
	}
	// Kasai's LCP: h[i] = lcp(sa[i-1], sa[i]); h[0] = -1 as in esaxx.
	rank := make([]int, n)
	for i, p := range sa {
		rank[p] = i
	}
	h := make([]int, n)
	k := 0
	for i := 0; i < n; i++ {
		if rank[i] == 0 {
			k = 0
			continue
		}
		j := sa[rank[i]-1]
		for i+k < n && j+k < n && s[i+k] == s[j+k] {
			k++
		}
		h[rank[i]] = k
		if k > 0 {
			k--
		}
	}
	h[0] = -1
	type entry struct{ left, depth int }
	stack := []entry{{-1, -1}}
	var nodes []suffixNode
	for i := 0; ; i++ {
		cur := entry{i, -1}
		if i < n {
			cur.depth = h[i]
		}
		cand := stack[len(stack)-1]
		for cand.depth > cur.depth {
			if i-cand.left > 1 {
				nodes = append(nodes, suffixNode{cand.left, i, cand.depth})
			}
			cur.left = cand.left
			stack = stack[:len(stack)-1]
			cand = stack[len(stack)-1]
		}
		if cand.depth < cur.depth {
			stack = append(stack, cur)
		}
		if i == n {
			break
		}
		stack = append(stack, entry{i, n - sa[i] + 1})
	}
	return nodes
}
