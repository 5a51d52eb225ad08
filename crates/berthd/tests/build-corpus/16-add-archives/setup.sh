umask 022
chmod 644 plain.txt
set -e
mkdir -p src/dir
echo "inside tar" > src/a.txt
echo "nested in tar" > src/dir/b.txt
chmod 600 src/dir/b.txt
chmod 750 src/dir
ln -s a.txt src/link
tar --owner=123 --group=456 --numeric-owner --mtime=@1000000000 -C src -cf bundle.tar .
tar --owner=0 --group=0 --numeric-owner --mtime=@1000000000 -C src -czf bundle.tar.gz a.txt dir
rm -rf src
chmod 640 owned.txt
