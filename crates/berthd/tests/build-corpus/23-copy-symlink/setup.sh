set -e
echo "target content" > target.txt
mkdir -p realdir tree
echo inreal > realdir/f
ln -s target.txt link.txt
ln -s realdir dirlink
ln -s ../target.txt tree/up-link
ln -s /etc/passwd tree/abs-link
ln -s nowhere tree/dangling
