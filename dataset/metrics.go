package dataset

import (
	"fmt"
	"math"
	"sort"
)

// Accuracy is the fraction of predictions equal to their label.
func Accuracy(pred, label []int) float64 {
	if len(pred) == 0 {
		return math.NaN()
	}
	ok := 0
	for i := range pred {
		if pred[i] == label[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(pred))
}

// MacroF1 averages the per-class F1 over the classes that occur in either
// the labels or the predictions, as scikit-learn's f1_score(average="macro")
// does with its default labels. A class with no true and no predicted
// positives does not occur and so does not drag the mean down.
func MacroF1(pred, label []int, numClasses int) float64 {
	if len(pred) == 0 {
		return math.NaN()
	}
	tp := make([]int, numClasses)
	fp := make([]int, numClasses)
	fn := make([]int, numClasses)
	for i := range pred {
		p, l := pred[i], label[i]
		if p == l {
			tp[p]++
			continue
		}
		fp[p]++
		fn[l]++
	}
	sum, n := 0.0, 0
	for c := range numClasses {
		if tp[c]+fp[c]+fn[c] == 0 {
			continue
		}
		n++
		if tp[c] == 0 {
			continue // F1 is 0 for this class
		}
		prec := float64(tp[c]) / float64(tp[c]+fp[c])
		rec := float64(tp[c]) / float64(tp[c]+fn[c])
		sum += 2 * prec * rec / (prec + rec)
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// ROCAUC is the area under the ROC curve for binary labels (0/1) and scores
// where larger means "more likely 1". Ties share rank (the Mann–Whitney
// statistic), which equals scikit-learn's roc_auc_score. It returns an error
// when only one class is present, where AUC is undefined.
func ROCAUC(score []float64, label []int) (float64, error) {
	n := len(score)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var pos, neg int
	rankSumPos := 0.0
	for i := 0; i < n; {
		j := i
		for j < n && score[idx[j]] == score[idx[i]] {
			j++
		}
		avgRank := float64(i+j+1) / 2 // ranks are 1-based: i+1 … j
		for k := i; k < j; k++ {
			if label[idx[k]] == 1 {
				rankSumPos += avgRank
			}
		}
		i = j
	}
	for _, l := range label {
		if l == 1 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN(), fmt.Errorf("roc-auc undefined: %d positive and %d negative labels", pos, neg)
	}
	u := rankSumPos - float64(pos)*float64(pos+1)/2
	return u / (float64(pos) * float64(neg)), nil
}

// MSE is the mean squared error.
func MSE(pred, target []float64) float64 {
	if len(pred) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range pred {
		d := pred[i] - target[i]
		s += d * d
	}
	return s / float64(len(pred))
}

// Pearson is the correlation coefficient of pred and target; NaN when either
// is constant.
func Pearson(pred, target []float64) float64 {
	n := float64(len(pred))
	if n < 2 {
		return math.NaN()
	}
	var mp, mt float64
	for i := range pred {
		mp += pred[i]
		mt += target[i]
	}
	mp /= n
	mt /= n
	var cov, vp, vt float64
	for i := range pred {
		dp, dt := pred[i]-mp, target[i]-mt
		cov += dp * dt
		vp += dp * dp
		vt += dt * dt
	}
	if vp == 0 || vt == 0 {
		return math.NaN()
	}
	return cov / math.Sqrt(vp*vt)
}
