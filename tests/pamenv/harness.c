/* The environment the system's real pam_env.so gives a PAM session, for test envfiles.
 *
 *   harness CONFDIR SERVICE...
 *
 * For each SERVICE (a file in CONFDIR naming pam_env.so with its envfile=), it starts PAM with
 * pam_start_confdir (so the system's /etc/pam.d is never read), opens a session (pam_env reads its
 * files there) and prints the PAM environment: a line with the count, then per variable its length
 * in bytes on a line and the bytes. Nothing else is loaded or changed.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int no_conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    (void) n; (void) msg; (void) resp; (void) data;
    return PAM_CONV_ERR;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFDIR SERVICE...\n", argv[0]);
        return 2;
    }
    struct pam_conv conv = {no_conversation, NULL};
    for (int i = 2; i < argc; i++) {
        pam_handle_t *pamh = NULL;
        int rc = pam_start_confdir(argv[i], "root", &conv, argv[1], &pamh);
        if (rc != PAM_SUCCESS) {
            fprintf(stderr, "%s: pam_start_confdir: %d\n", argv[i], rc);
            return 1;
        }
        rc = pam_open_session(pamh, 0);
        if (rc != PAM_SUCCESS) {
            fprintf(stderr, "%s: pam_open_session: %s\n", argv[i], pam_strerror(pamh, rc));
            pam_end(pamh, rc);
            return 1;
        }
        char **env = pam_getenvlist(pamh);
        size_t count = 0;
        while (env && env[count])
            count++;
        printf("%zu\n", count);
        for (size_t k = 0; k < count; k++) {
            printf("%zu\n", strlen(env[k]));
            fwrite(env[k], 1, strlen(env[k]), stdout);
            free(env[k]);
        }
        free(env);
        pam_close_session(pamh, 0);
        pam_end(pamh, PAM_SUCCESS);
    }
    return 0;
}
