package pkg

func A(x int) bool {
	if x > 1 || x < -1 {
		return true
	}
	return x == 0
}
