/* Unit-test helper: remove a temporary directory tree (the tests' mkdtemp
 * fixtures). Not for product code: it follows no policy on symbolic links
 * other than not descending into them (lstat). */
#ifndef PKIE_TEST_TMPTREE_H
#define PKIE_TEST_TMPTREE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void tmptree_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= sizeof(p))
            continue; /* no fixture has such paths */
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            tmptree_remove(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#endif
