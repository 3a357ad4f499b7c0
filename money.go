package flashsale

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in cents. Money never passes through a float.
type Money int64

// maxMoney bounds prices so that qty × price cannot overflow int64.
const maxMoney = Money(1_000_000_000_00)

// ParseMoney reads a non-negative decimal amount with at most two places,
// such as "19.99", "5" or "0.5".
func ParseMoney(s string) (Money, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not an amount with at most two decimal places", s)
	}
	if len(whole) > 10 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	m := Money(w*100 + f)
	if m > maxMoney {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return m, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats the amount with two decimal places: 4999 is "49.99".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%02d", sign, m/100, m%100)
}
