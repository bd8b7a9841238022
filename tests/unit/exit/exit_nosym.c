/* A shared library without the cftpkie symbol (loader test). */
int cftpkie_not_here(void);
__attribute__((visibility("default"))) int cftpkie_not_here(void)
{
    return 0;
}
