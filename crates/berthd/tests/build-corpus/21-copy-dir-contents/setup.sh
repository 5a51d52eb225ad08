set -e
mkdir -p tree/sub/empty  # git keeps no empty dirs
chmod 711 tree/sub
chmod 700 tree/sub/empty
chmod 604 tree/top.txt
