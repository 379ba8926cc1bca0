package pkg

func B() int { return 1 + 2 }
