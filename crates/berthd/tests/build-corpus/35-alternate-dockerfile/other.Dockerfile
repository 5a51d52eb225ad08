FROM busybox
COPY data.txt /
CMD ["cat", "/data.txt"]
