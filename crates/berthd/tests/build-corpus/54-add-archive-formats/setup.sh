set -e
mkdir -p src/d
echo "archived" > src/d/f.txt
tar --owner=0 --group=0 --numeric-owner --mtime=@1000000000 -C src -cjf data.tar.bz2 d
tar --owner=0 --group=0 --numeric-owner --mtime=@1000000000 -C src -cJf data.tar.xz d
tar --owner=0 --group=0 --numeric-owner --mtime=@1000000000 -C src -czf data.tar.gz d
rm -rf src
echo "not really gzip" > fake.tar.gz
