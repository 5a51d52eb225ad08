set -e
echo space > 'with space.txt'
echo unicode > 'ünïcødé.txt'
echo dash > ./-dash.txt
mkdir -p many hard
for i in $(seq 1 300); do echo "file $i" > many/f$i.txt; done
mkdir -p many/a/b/c/d/e/f/g/h; echo deep > many/a/b/c/d/e/f/g/h/deep.txt
seq 1 400000 > big.bin
echo shared > hard/one; ln hard/one hard/two
