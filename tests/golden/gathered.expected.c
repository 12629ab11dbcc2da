/* A symmetric rank-k update: A[j][k] moves across rows along the vector member j, so the
   vector code reads it from a transposed panel, one block per column block of a tile. */
void rank_update(int n, int m, double alpha, double C[n][n], double A[n][m])
{
  int i, j, k;
#pragma scop
#ifndef min
#define min(x, y) ((x) < (y) ? (x) : (y))
#endif
#define S0(i, k, j) C[(i)][(j)] = C[(i)][(j)] + alpha * A[(i)][(k)] * A[(j)][(k)]
#if defined(__GNUC__)
#define tiler_load(address) ({ tiler_vector tiler_load_value; __builtin_memcpy(&tiler_load_value, (address), sizeof tiler_load_value); tiler_load_value; })
#endif
  for (int c0 = 0; c0 < n; c0 += 32) {
    for (int c1 = 0; c1 < m; c1 += 32) {
      {
  #if defined(__GNUC__)
        void *tiler_panel0_b_raw = __builtin_malloc(sizeof (__typeof__(C[(0)][(0)])) * 1152 + 64);
        __typeof__(C[(0)][(0)]) *tiler_panel0_b = tiler_panel0_b_raw ? (__typeof__(C[(0)][(0)]) *) (((__UINTPTR_TYPE__) tiler_panel0_b_raw + 63) & ~(__UINTPTR_TYPE__) 63) : 0;
        long tiler_panel0_bkey[9][16] __attribute__((unused)) = {{0}};
        int tiler_panel0_bfull[9] __attribute__((unused)) = {0};
        void *tiler_panel0_v_raw = __builtin_malloc(sizeof (__typeof__(C[(0)][(0)])) * 1280 + 64);
        __typeof__(C[(0)][(0)]) *tiler_panel0_v = tiler_panel0_v_raw ? (__typeof__(C[(0)][(0)]) *) (((__UINTPTR_TYPE__) tiler_panel0_v_raw + 63) & ~(__UINTPTR_TYPE__) 63) : 0;
        long tiler_panel0_vkey[5][16] __attribute__((unused)) = {{0}};
        int tiler_panel0_vfull[5] __attribute__((unused)) = {0};
  #endif
        for (int c2 = 0, c2_end = min(n - 1, c0 + 31); c2 <= c2_end; c2 += 32) {
          for (int c3 = c0, c3_end = min(n - 1, c0 + 31); c3 <= c3_end; c3 += 4) {
            for (int c4 = c2, c4_end = min(min(n - 1, c2 + 31), c3 + 3); c4 <= c4_end; c4 += 8) {
  #if defined(__GNUC__)
              if (((n >= c3 + 4) && (c3 >= c4 + 8)) && (c1 + 31 >= m ? m - 1 : c1 + 31) - (c1) < 32 && tiler_panel0_b && tiler_panel0_v) {
                typedef __typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)]) tiler_vector __attribute__((vector_size(4 * sizeof(C[((long) (c3) + 0)][((long) (c4) + 0)]))));
                tiler_vector tiler_acc0_0, tiler_acc0_1, tiler_acc1_0, tiler_acc1_1, tiler_acc2_0, tiler_acc2_1, tiler_acc3_0, tiler_acc3_1;
                __builtin_memcpy(&tiler_acc0_0, &C[((long) (c3) + 0)][((long) (c4) + 0)], sizeof tiler_acc0_0);
                __builtin_memcpy(&tiler_acc0_1, &C[((long) (c3) + 0)][((long) (c4) + 4)], sizeof tiler_acc0_1);
                __builtin_memcpy(&tiler_acc1_0, &C[((long) (c3) + 1)][((long) (c4) + 0)], sizeof tiler_acc1_0);
                __builtin_memcpy(&tiler_acc1_1, &C[((long) (c3) + 1)][((long) (c4) + 4)], sizeof tiler_acc1_1);
                __builtin_memcpy(&tiler_acc2_0, &C[((long) (c3) + 2)][((long) (c4) + 0)], sizeof tiler_acc2_0);
                __builtin_memcpy(&tiler_acc2_1, &C[((long) (c3) + 2)][((long) (c4) + 4)], sizeof tiler_acc2_1);
                __builtin_memcpy(&tiler_acc3_0, &C[((long) (c3) + 3)][((long) (c4) + 0)], sizeof tiler_acc3_0);
                __builtin_memcpy(&tiler_acc3_1, &C[((long) (c3) + 3)][((long) (c4) + 4)], sizeof tiler_acc3_1);
                const long tiler_panel0_lo = (c1), tiler_panel0_hi = (c1 + 31 >= m ? m - 1 : c1 + 31);
                const long tiler_panel0_bslot = (((long) (c3)) / 4 % 9 + 9) % 9;
                __typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)]) *tiler_panel0_blk = tiler_panel0_b + tiler_panel0_bslot * 128;
                if (!(tiler_panel0_bfull[tiler_panel0_bslot] && tiler_panel0_bkey[tiler_panel0_bslot][0] == (long) (c3) && tiler_panel0_bkey[tiler_panel0_bslot][1] == tiler_panel0_lo && tiler_panel0_bkey[tiler_panel0_bslot][2] == tiler_panel0_hi)) {
                  for (long c5 = tiler_panel0_lo; c5 <= tiler_panel0_hi; c5++) {
                    tiler_panel0_blk[(c5 - tiler_panel0_lo) * 4 + 0] = (__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) (alpha * A[((long) (c3) + 0)][(c5)]);
                    tiler_panel0_blk[(c5 - tiler_panel0_lo) * 4 + 1] = (__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) (alpha * A[((long) (c3) + 1)][(c5)]);
                    tiler_panel0_blk[(c5 - tiler_panel0_lo) * 4 + 2] = (__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) (alpha * A[((long) (c3) + 2)][(c5)]);
                    tiler_panel0_blk[(c5 - tiler_panel0_lo) * 4 + 3] = (__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) (alpha * A[((long) (c3) + 3)][(c5)]);
                  }
                  tiler_panel0_bkey[tiler_panel0_bslot][0] = (long) (c3);
                  tiler_panel0_bkey[tiler_panel0_bslot][1] = tiler_panel0_lo;
                  tiler_panel0_bkey[tiler_panel0_bslot][2] = tiler_panel0_hi;
                  tiler_panel0_bfull[tiler_panel0_bslot] = 1;
                }
                const __typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)]) *tiler_panel0_at = tiler_panel0_blk;
                const long tiler_panel0_slot = (((long) (c4)) / 8 % 5 + 5) % 5;
                __typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)]) *tiler_panel0_vat = tiler_panel0_v + tiler_panel0_slot * 256;
                if (!(tiler_panel0_vfull[tiler_panel0_slot] && tiler_panel0_vkey[tiler_panel0_slot][0] == (long) (c4) && tiler_panel0_vkey[tiler_panel0_slot][1] == tiler_panel0_lo && tiler_panel0_vkey[tiler_panel0_slot][2] == tiler_panel0_hi && tiler_panel0_vkey[tiler_panel0_slot][3] == 8)) {
                  for (long c5 = tiler_panel0_lo; c5 <= tiler_panel0_hi; c5++, tiler_panel0_vat += 8) {
                    for (long c5_lane = 0; c5_lane < 8; c5_lane++) {
                      tiler_panel0_vat[0 + c5_lane] = (__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) A[((long) (c4) + c5_lane)][(c5)];
                    }
                  }
                  tiler_panel0_vkey[tiler_panel0_slot][0] = (long) (c4);
                  tiler_panel0_vkey[tiler_panel0_slot][1] = tiler_panel0_lo;
                  tiler_panel0_vkey[tiler_panel0_slot][2] = tiler_panel0_hi;
                  tiler_panel0_vkey[tiler_panel0_slot][3] = 8;
                  tiler_panel0_vfull[tiler_panel0_slot] = 1;
                  tiler_panel0_vat = tiler_panel0_v + tiler_panel0_slot * 256;
                }
                for (long c5 = tiler_panel0_lo, c5_end = tiler_panel0_hi; c5 <= c5_end; c5++, tiler_panel0_at += 4, tiler_panel0_vat += 8) {
                  tiler_acc0_0 = (tiler_acc0_0 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[0]) * tiler_load(&tiler_panel0_vat[0])));
                  tiler_acc0_1 = (tiler_acc0_1 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[0]) * tiler_load(&tiler_panel0_vat[4])));
                  tiler_acc1_0 = (tiler_acc1_0 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[1]) * tiler_load(&tiler_panel0_vat[0])));
                  tiler_acc1_1 = (tiler_acc1_1 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[1]) * tiler_load(&tiler_panel0_vat[4])));
                  tiler_acc2_0 = (tiler_acc2_0 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[2]) * tiler_load(&tiler_panel0_vat[0])));
                  tiler_acc2_1 = (tiler_acc2_1 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[2]) * tiler_load(&tiler_panel0_vat[4])));
                  tiler_acc3_0 = (tiler_acc3_0 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[3]) * tiler_load(&tiler_panel0_vat[0])));
                  tiler_acc3_1 = (tiler_acc3_1 + (((__typeof__(C[((long) (c3) + 0)][((long) (c4) + 0)])) tiler_panel0_at[3]) * tiler_load(&tiler_panel0_vat[4])));
                }
                __builtin_memcpy(&C[((long) (c3) + 0)][((long) (c4) + 0)], &tiler_acc0_0, sizeof tiler_acc0_0);
                __builtin_memcpy(&C[((long) (c3) + 0)][((long) (c4) + 4)], &tiler_acc0_1, sizeof tiler_acc0_1);
                __builtin_memcpy(&C[((long) (c3) + 1)][((long) (c4) + 0)], &tiler_acc1_0, sizeof tiler_acc1_0);
                __builtin_memcpy(&C[((long) (c3) + 1)][((long) (c4) + 4)], &tiler_acc1_1, sizeof tiler_acc1_1);
                __builtin_memcpy(&C[((long) (c3) + 2)][((long) (c4) + 0)], &tiler_acc2_0, sizeof tiler_acc2_0);
                __builtin_memcpy(&C[((long) (c3) + 2)][((long) (c4) + 4)], &tiler_acc2_1, sizeof tiler_acc2_1);
                __builtin_memcpy(&C[((long) (c3) + 3)][((long) (c4) + 0)], &tiler_acc3_0, sizeof tiler_acc3_0);
                __builtin_memcpy(&C[((long) (c3) + 3)][((long) (c4) + 4)], &tiler_acc3_1, sizeof tiler_acc3_1);
              } else
  #endif
              {
                for (int c5 = c1, c5_end = min(m - 1, c1 + 31); c5 <= c5_end; c5++) {
                  for (int c6 = c3, c6_end = min(n - 1, c3 + 3); c6 <= c6_end; c6++) {
                    for (int c7 = c4, c7_end = min(c4 + 7, c6); c7 <= c7_end; c7++) {
                      S0(c6, c5, c7);
                    }
                  }
                }
              }
            }
          }
        }
  #if defined(__GNUC__)
        __builtin_free(tiler_panel0_b_raw);
        __builtin_free(tiler_panel0_v_raw);
  #endif
      }
    }
  }
#if defined(__GNUC__)
#undef tiler_load
#endif
#undef S0
#pragma endscop
}
