module github.com/sugarme/gotch

go 1.20
