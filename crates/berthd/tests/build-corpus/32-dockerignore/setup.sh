set -e
mkdir -p sub/tmp tmp excluded-dir/inner sub/deeper/tmp other
echo x > app.log; echo keep > keep.log; echo x > sub/nested.log
echo x > tmp/t; echo x > sub/tmp/t; echo x > sub/deeper/tmp/t
echo x > excluded-dir/f; echo x > excluded-dir/inner/g
echo x > sub/a.bak; echo x > sub/deeper/b.bak; echo keep > sub/keep.txt
echo x > rooted.txt; echo x > other/rooted.txt; echo x > dot-slash.txt
